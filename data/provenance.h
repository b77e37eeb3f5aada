/* The run_provenance block every report writes (the training report.json, the gate's and the
 * PTQ report's JSON): the keys they share are written here, once, so they cannot drift apart.
 * Each report adds its own keys (config and data files, inputs and outputs, seeds) between the
 * calls; the training report is printed in insertion order, hence three calls, not one. */
#ifndef TT_DATA_PROVENANCE_H
#define TT_DATA_PROVENANCE_H

#include <time.h>
#include <cjson/cJSON.h>

/* The revision the library was built from (git describe at configure time; "unknown" when the
 * build had no git checkout). */
const char *tt_git_revision(void);

/* A new run_provenance object holding tool ("tinytrain"), command (left out when NULL: the
 * training report has none), version, git_revision and argv. */
cJSON *tt_provenance_open(const char *command, int argc, char *const *argv);

/* host ("nodename sysname release machine"; left out when uname fails) and threads. */
void tt_provenance_add_host(cJSON *p);

/* key: when in UTC as "YYYY-MM-DDTHH:MM:SSZ" (started_utc, finished_utc), then wall_time_s. */
void tt_provenance_add_time(cJSON *p, const char *key, time_t when, double wall_s);

#endif
