/* sluice-metrics-private.h — Prometheus-style counters and histograms
 * kept from sink records, rendered in the text exposition format.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#pragma once

#include "sluice.h"

G_BEGIN_DECLS

typedef struct _SluiceMetrics SluiceMetrics;

SluiceMetrics *sluice_metrics_new            (void);
void           sluice_metrics_free           (SluiceMetrics *self);

/* Counts one sink record (type attempt, request or event); thread-safe.
 * sluice_requests_total{pipeline,outcome,error_kind},
 * sluice_request_latency_seconds{pipeline} (histogram),
 * sluice_cache_requests_total{pipeline,result} (requests whose cache_hit
 * is known), sluice_attempts_total{target,outcome,error_kind},
 * sluice_tokens_total{target,kind} (prompt, completion, cached,
 * cache_write, reasoning), sluice_cost_usd_total{target} (known costs),
 * sluice_cost_unknown_attempts_total{target}, sluice_ttft_seconds{target}
 * (histogram), sluice_events_total{event,target}. */
void           sluice_metrics_add_record     (SluiceMetrics *self,
                                              JsonObject    *record);

/* The text exposition format (version 0.0.4): families sorted by name,
 * series by labels, each family with its HELP and TYPE lines; label
 * values escaped; histograms with cumulative buckets, _sum and _count. */
char          *sluice_metrics_render         (SluiceMetrics *self);

/* The metrics of a whole ledger file: its requests, attempts and events
 * replayed as records, those at or after @since (ISO-8601, as the ledger
 * writes times; NULL: all). For `sluice report --prometheus`. */
char          *sluice_metrics_render_ledger  (const char    *ledger_path,
                                              const char    *since,
                                              GError       **error);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (SluiceMetrics, sluice_metrics_free)

G_END_DECLS
