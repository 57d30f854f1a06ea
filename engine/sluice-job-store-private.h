/* sluice-job-store-private.h — batch job state: the source of truth for --resume.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#pragma once

#include "sluice.h"

G_BEGIN_DECLS

typedef struct _SluiceJobStore SluiceJobStore;

/* Opens the state file beside output_path ("OUT.sluice-state").
 * With retry_failed, jobs whose committed result is an error count as not
 * done: they leave the output file and run again.
 * Without resume, an existing state or output file is an error unless
 * overwrite is set (then both are removed). With resume, the output file is
 * re-derived from the store, so that it holds every committed result once. */
SluiceJobStore *sluice_job_store_open          (const char      *output_path,
                                                const char      *pipeline_path,
                                                const char      *input_path,
                                                gboolean         resume,
                                                gboolean         overwrite,
                                                gboolean         retry_failed,
                                                GError         **error);
/* Number of jobs already committed (by an earlier, interrupted run). */
guint           sluice_job_store_get_n_done    (SluiceJobStore  *self);
/* TRUE if line (1-based) was committed; *hash_matches says whether the
 * committed line had the same text hash. */
gboolean        sluice_job_store_is_done       (SluiceJobStore  *self,
                                                guint64          line,
                                                guint64          hash,
                                                gboolean        *hash_matches);
/* Commits a result; once committed, result_line is appended to the output
 * file (by the store's writer thread). Takes ownership of result_line. */
void            sluice_job_store_commit        (SluiceJobStore  *self,
                                                guint64          line,
                                                guint64          hash,
                                                const char      *custom_id,
                                                gboolean         ok,
                                                char            *result_line);
void            sluice_job_store_flush_async   (SluiceJobStore      *self,
                                                GAsyncReadyCallback  callback,
                                                gpointer             user_data);
gboolean        sluice_job_store_flush_finish  (SluiceJobStore  *self,
                                                GAsyncResult    *result,
                                                GError         **error);
void            sluice_job_store_close         (SluiceJobStore  *self);
/* TRUE once a result could not be committed (the batch must stop). */
gboolean        sluice_job_store_has_failed    (SluiceJobStore  *self);
/* Committed jobs whose result is an error, over every run of the batch
 * (call after a flush). Returns -1 if the state cannot be read. */
gint64          sluice_job_store_count_failed  (SluiceJobStore  *self);
const char     *sluice_job_store_get_path      (SluiceJobStore  *self);

/* 64-bit FNV-1a of a line's bytes: identifies an input line on resume. */
guint64         sluice_job_store_hash_line     (const char      *line,
                                                gsize            length);

G_END_DECLS
