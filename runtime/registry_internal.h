/* Shared by the registry and the gate report inside the library: one JSON layout for every file
 * they write. */
#ifndef TT_REGISTRY_INTERNAL_H
#define TT_REGISTRY_INTERNAL_H

#include <cjson/cJSON.h>
#include "tinytrain/status.h"

/* item as text in the layout of Python's json.dumps(indent=2, sort_keys=True): keys sorted
 * byte-wise, 2-space indent, numbers that are whole as integers and others in the shortest form
 * that reads back exactly, non-finite numbers as null, UTF-8 written as is; plus a trailing
 * newline. NULL when out of memory. Free with free(). */
char *tt_json_print_sorted(const cJSON *item);

/* Write text to path atomically. what names the file in messages ("registry", "gate report"). */
tt_status tt_json_write_file(const char *path, const char *text, const char *what);

/* A report: j printed with tt_json_print_sorted and written atomically to path; j is freed
 * whatever happens. */
tt_status tt_json_write_report(cJSON *j, const char *path, const char *what);

#endif
