/* Progress output shared by the training commands: a live bar on a terminal, one line per
 * epoch otherwise, or JSON lines. */
#include <stdio.h>
#include <time.h>
#include "cli/cli.h"
#include "data/clock.h"

void tt_cli_on_progress(const tt_progress *p, void *user)
{
    tt_cli_ui *ui = user;
    if (ui->mode != TT_OUT_HUMAN || !ui->tty) return;
    double now = tt_clock_s();
    if (now - ui->last_draw < 0.1 && p->batch != p->batches) return;
    ui->last_draw = now;
    int width = 24, fill = (int)((double)width * (double)p->batch / (double)p->batches);
    char bar[32];
    for (int i = 0; i < width; i++) bar[i] = i < fill ? '#' : '.';
    bar[width] = '\0';
    fprintf(stderr, "\r\033[Kepoch %d/%d [%s] %lld/%lld  loss %.4f  %.0f samples/s  ETA %.0fs",
            p->epoch, p->epochs, bar, (long long)p->batch, (long long)p->batches, p->loss,
            p->samples_per_s, p->eta_s);
    fflush(stderr);
}

void tt_cli_print_metric(const tt_eval_result *r, char *buf, size_t len)
{
    switch (r->task) {
    case TT_TASK_CLASSIFICATION:
        snprintf(buf, len, "accuracy %.2f%%", r->accuracy);
        break;
    case TT_TASK_REGRESSION:
        snprintf(buf, len, "PLCC %.4f SROCC %.4f RMSE %.4f", r->plcc, r->srocc, r->rmse);
        break;
    case TT_TASK_IMAGE_TO_IMAGE:
        snprintf(buf, len, "PSNR %.2f dB (input %.2f dB)", r->psnr, r->psnr_input);
        break;
    }
}

void tt_cli_on_epoch(const tt_epoch_record *r, void *user)
{
    tt_cli_ui *ui = user;
    char m[128];
    tt_cli_print_metric(&r->val, m, sizeof m);
    if (ui->mode == TT_OUT_JSON) {
        printf("{\"epoch\": %d, \"train_loss\": %.6g, \"%s_loss\": %.6g, \"%s_%s\": %.6g, "
               "\"lr\": %.6g, \"seconds\": %.3f, \"best\": %s}\n",
               r->epoch, r->train_loss, r->val_split, r->val.loss, r->val_split, ui->metric,
               tt_eval_main_metric(&r->val), r->lr, r->seconds, r->best ? "true" : "false");
    } else if (ui->mode == TT_OUT_HUMAN) {
        if (ui->tty) fprintf(stderr, "\r\033[K");
        printf("epoch %d  train loss %.4f  %s loss %.4f  %s  %.1f s (%.0f samples/s)%s\n", r->epoch,
               r->train_loss, r->val_split, r->val.loss, m, r->seconds, r->samples_per_s,
               r->best ? "  *best" : "");
    }
    fflush(stdout);
}
