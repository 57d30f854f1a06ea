/* sluice-metrics-sink.h
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#pragma once

#include <sluice.h>

G_BEGIN_DECLS

#define SLUICE_TYPE_METRICS_SINK (sluice_metrics_sink_get_type ())
G_DECLARE_FINAL_TYPE (SluiceMetricsSink, sluice_metrics_sink, SLUICE, METRICS_SINK, GObject)

/* The exposition of what the sink counted so far (for a server to serve). */
char *sluice_metrics_sink_render (SluiceMetricsSink *self);

G_END_DECLS
