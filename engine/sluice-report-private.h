/* sluice-report-private.h — `sluice report`: figures and SLOs read off the ledger.
 *
 * The report is a JsonObject whose shape is fixed by the contract with
 * the HTML renderer (see the README, "### `sluice report`"): --json
 * prints it, the text and CSV forms are views of it.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#pragma once

#include "sluice.h"

G_BEGIN_DECLS

/* A ledger opened read-only for reporting. */
typedef struct _SluiceReport SluiceReport;

/* The --group-by names, NULL-terminated. */
extern const char * const sluice_report_group_names[];

/* Opens @path read-only; fails (never creates a file) when it is
 * missing or is not a sluice ledger. */
SluiceReport *sluice_report_open          (const char    *path,
                                           GError       **error);
void          sluice_report_free          (SluiceReport  *self);

/* Parses a --since/--until value: a duration back from @now (`7d`,
 * `24h`, `30m`), a date (`2026-12-01`, midnight UTC) or a date and time
 * (`2026-12-01T10:00:00Z`; no zone means UTC). */
GDateTime    *sluice_report_parse_time    (const char    *text,
                                           GDateTime     *now,
                                           GError       **error);
/* The ledger's time format: "2026-12-04T11:56:39.123Z". */
char         *sluice_report_format_time   (GDateTime     *time);

/* Builds the report model. @since and @until (exclusive) may be NULL;
 * @group_by is one of sluice_report_group_names or NULL. */
JsonObject   *sluice_report_build         (SluiceReport  *self,
                                           GDateTime     *now,
                                           GDateTime     *since,
                                           GDateTime     *until,
                                           const char    *group_by,
                                           GError       **error);

/* Evaluates the SLO file at @path over its rolling window ending at
 * @end; problems in the file go to @diagnostics (file:line:col) and
 * make it return NULL. */
JsonObject   *sluice_report_evaluate_slo  (SluiceReport  *self,
                                           const char    *path,
                                           GDateTime     *end,
                                           GPtrArray     *diagnostics,
                                           GError       **error);
/* Objectives whose budget is exhausted. */
guint         sluice_report_slo_n_exhausted (JsonObject  *slo);

/* Views of the model. */
char         *sluice_report_to_text       (JsonObject    *report);
char         *sluice_report_to_csv        (JsonObject    *report);
GPtrArray    *sluice_report_slo_rows      (JsonObject    *slo);

/* ---- shared by the report's files ------------------------------------------------ */

/* Nearest-rank percentile of @sorted (ascending): the value at rank
 * ceil(p/100 × n); NaN when @n is 0. */
gdouble       _sluice_report_percentile   (const gdouble *sorted,
                                           guint          n,
                                           gdouble        p);
/* Runs @sql (one statement) with @since/@until (text or NULL) bound to
 * ?1 and ?2, calling @row for each result row. */
typedef void (*SluiceReportRowFunc) (sqlite3_stmt *stmt, gpointer user_data);
gboolean      _sluice_report_query        (SluiceReport  *self,
                                           const char    *sql,
                                           const char    *since,
                                           const char    *until,
                                           SluiceReportRowFunc row,
                                           gpointer       user_data,
                                           GError       **error);
/* FIGURES over the requests in [@since, @until) matching @where (SQL over
 * the per-request table, or NULL), as the contract defines them. */
JsonObject   *_sluice_report_figures      (SluiceReport  *self,
                                           const char    *where,
                                           const char    *since,
                                           const char    *until,
                                           GError       **error);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (SluiceReport, sluice_report_free)

G_END_DECLS
