/* sluice-batch-private.h — runs a pipeline over a JSONL file of jobs.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#pragma once

#include "sluice.h"

G_BEGIN_DECLS

typedef struct
{
  const char *input_path;     /* "-" reads standard input */
  const char *output_path;
  guint       concurrency;    /* jobs in flight at most */
  gboolean    resume;
  gboolean    overwrite;
  gboolean    retry_failed;   /* with resume: run jobs that ended in an error again */
  gboolean    progress;       /* draw a progress line on stderr */
  gint64      grace_ms;       /* after stop: how long in-flight jobs may finish */
} SluiceBatchOptions;

typedef struct _SluiceBatch SluiceBatch;

SluiceBatch *sluice_batch_new          (SluicePipeline            *pipeline,
                                        const SluiceBatchOptions  *options,
                                        GError                   **error);
void         sluice_batch_run_async    (SluiceBatch               *self,
                                        GAsyncReadyCallback        callback,
                                        gpointer                   user_data);
/* FALSE only when the batch itself failed (unreadable input, a job store
 * that cannot commit, a changed input on resume); failed jobs are results. */
gboolean     sluice_batch_run_finish   (SluiceBatch               *self,
                                        GAsyncResult              *result,
                                        GError                   **error);
/* Stop taking new jobs; in-flight jobs get grace_ms, then are cancelled
 * and left for --resume. */
void         sluice_batch_stop         (SluiceBatch               *self);
gboolean     sluice_batch_was_stopped  (SluiceBatch               *self);
/* ok, failed, failed_total (over every run of this batch), resumed, blank,
 * interrupted, retries, calls, breaker_skips, hedges, wasted_tokens,
 * served_by, compliance ({valid_first_try, valid_after_correction,
 * invalid}, empty when nothing was checked), cost_usd, cost_unknown,
 * p50_ms, p95_ms, elapsed_s, jobs_per_s, output, state_file */
JsonObject  *sluice_batch_get_summary  (SluiceBatch               *self);
void         sluice_batch_free         (SluiceBatch               *self);

G_END_DECLS
