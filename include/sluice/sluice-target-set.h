/* sluice-target-set.h — the targets of a `call` stage, with what is known
 * of their health: what a fallback policy decides from.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#pragma once

#if !defined (SLUICE_INSIDE) && !defined (SLUICE_COMPILATION)
# error "Only <sluice.h> can be included directly."
#endif

#include <json-glib/json-glib.h>

#include "sluice-breaker.h"
#include "sluice-context.h"

G_BEGIN_DECLS

#define SLUICE_TYPE_TARGET_SET (sluice_target_set_get_type ())
G_DECLARE_FINAL_TYPE (SluiceTargetSet, sluice_target_set, SLUICE, TARGET_SET, GObject)

SluiceTargetSet *sluice_target_set_new             (void);
/**
 * sluice_target_set_add:
 * @self: a #SluiceTargetSet
 * @target: (transfer none): the target as the pipeline gives it, without
 *   secrets (`provider`, `model`, and members such as `weight` or `tier`)
 * @breaker: (transfer none) (nullable): the target's circuit breaker
 *   (targets may share one)
 *
 * Returns: the new target's index
 */
guint            sluice_target_set_add             (SluiceTargetSet *self,
                                                    JsonObject      *target,
                                                    SluiceBreaker   *breaker);
guint            sluice_target_set_get_n_targets   (SluiceTargetSet *self);
/**
 * sluice_target_set_get_target:
 * @self: a #SluiceTargetSet
 * @index: a target
 *
 * Returns: (transfer none): the target's public members
 */
JsonObject      *sluice_target_set_get_target      (SluiceTargetSet *self,
                                                    guint            index);
const char      *sluice_target_set_get_provider    (SluiceTargetSet *self,
                                                    guint            index);
const char      *sluice_target_set_get_model       (SluiceTargetSet *self,
                                                    guint            index);
/**
 * sluice_target_set_get_breaker:
 * @self: a #SluiceTargetSet
 * @index: a target
 *
 * Returns: (transfer none) (nullable): its breaker, if it has one
 */
SluiceBreaker   *sluice_target_set_get_breaker     (SluiceTargetSet *self,
                                                    guint            index);
/**
 * sluice_target_set_is_available:
 * @self: a #SluiceTargetSet
 * @index: a target
 *
 * Returns: %FALSE while the target's breaker refuses calls
 */
gboolean         sluice_target_set_is_available    (SluiceTargetSet *self,
                                                    guint            index);
/**
 * sluice_target_set_record_latency:
 * @self: a #SluiceTargetSet
 * @index: a target
 * @latency_ms: how long an answered attempt took
 *
 * Feeds the target's moving average and percentile.
 */
void             sluice_target_set_record_latency  (SluiceTargetSet *self,
                                                    guint            index,
                                                    gint64           latency_ms);
/**
 * sluice_target_set_get_latency_ewma:
 * @self: a #SluiceTargetSet
 * @index: a target
 *
 * Returns: the exponentially weighted moving average of its answered
 *   attempts' latency in ms (alpha 0.2), or -1 before the first
 */
gdouble          sluice_target_set_get_latency_ewma (SluiceTargetSet *self,
                                                     guint            index);
/**
 * sluice_target_set_get_latency_percentile:
 * @self: a #SluiceTargetSet
 * @index: a target
 * @percentile: from 0 to 100
 * @min_samples: how many recent latencies are needed
 *
 * Over the last 200 answered attempts.
 *
 * Returns: the latency in ms, or -1 with fewer than @min_samples
 */
gint64           sluice_target_set_get_latency_percentile (SluiceTargetSet *self,
                                                           guint            index,
                                                           gdouble          percentile,
                                                           guint            min_samples);
/**
 * sluice_target_set_count_attempts:
 * @self: a #SluiceTargetSet
 * @context: a request
 * @index: a target
 *
 * Counts the failed attempts since the request's last answer (a
 * correction that calls again starts afresh); skipped targets and
 * cancelled hedges do not count.
 *
 * Returns: the attempts the request has sent to the target so far
 */
guint            sluice_target_set_count_attempts  (SluiceTargetSet *self,
                                                    SluiceContext   *context,
                                                    guint            index);
/**
 * sluice_target_set_count_served:
 * @self: a #SluiceTargetSet
 * @index: a target
 *
 * Returns: the requests the target answered
 */
guint64          sluice_target_set_count_served    (SluiceTargetSet *self,
                                                    guint            index);
void             sluice_target_set_add_served      (SluiceTargetSet *self,
                                                    guint            index);

G_END_DECLS
