/* sluice-sqlite-sink.h
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#pragma once

#include <sluice.h>

G_BEGIN_DECLS

#define SLUICE_TYPE_SQLITE_SINK (sluice_sqlite_sink_get_type ())
G_DECLARE_FINAL_TYPE (SluiceSqliteSink, sluice_sqlite_sink, SLUICE, SQLITE_SINK, GObject)

G_END_DECLS
