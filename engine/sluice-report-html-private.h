/* sluice-report-html-private.h: `sluice report --html FILE`
 *
 * Private to libsluice and the `sluice` command.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#pragma once

#include <glib.h>
#include <json-glib/json-glib.h>

G_BEGIN_DECLS

/* Writes the report model (the JsonObject `sluice report --json` prints:
 * totals, groups, daily, latency_daily, error_kinds, served_by, slo) as one
 * self-contained HTML page: figures, inline SVG charts, the per-group
 * table. Needs no network and no JavaScript. FALSE with @error set when
 * the model has no totals or the file cannot be written. */
gboolean sluice_report_write_html  (JsonObject  *report,
                                    const char  *path,
                                    GError     **error);

/* The same page as text (transfer full); NULL with @error set when the
 * model has no totals. */
char    *sluice_report_render_html (JsonObject  *report,
                                    GError     **error);

G_END_DECLS
