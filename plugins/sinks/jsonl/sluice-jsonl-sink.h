/* sluice-jsonl-sink.h
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#pragma once

#include <sluice.h>

G_BEGIN_DECLS

#define SLUICE_TYPE_JSONL_SINK (sluice_jsonl_sink_get_type ())
G_DECLARE_FINAL_TYPE (SluiceJsonlSink, sluice_jsonl_sink, SLUICE, JSONL_SINK, GObject)

G_END_DECLS
