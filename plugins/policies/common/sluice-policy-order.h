/* sluice-policy-order.h — what the fallback policies share: reading the
 * last error, a target's attempts left, "next in order" over a list of
 * targets (chain, and route within a tier) and the least-tried candidates
 * (weighted, least-latency).
 *
 * Compiled into each policy module: plugins cannot see each other's
 * symbols, so this is a source file they share, not a library.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#pragma once

#include <sluice.h>

G_BEGIN_DECLS

/**
 * SluicePolicyOrder:
 * @fallback_on: one bit per #SluiceErrorCode after which another target
 *   is tried
 * @rate_limited_wait: after `rate_limited`, retry the same target (after
 *   the backoff) rather than move on at once
 *
 * How a policy that walks its targets in order reacts to an error.
 */
typedef struct
{
  guint64  fallback_on;
  gboolean rate_limited_wait;
} SluicePolicyOrder;

/* Every kind but bad_request (and the non-provider kinds). */
void            sluice_policy_order_init      (SluicePolicyOrder  *self);
/* Reads `fallback_on` and `rate_limited` from @config (nullable). */
gboolean        sluice_policy_order_configure (SluicePolicyOrder  *self,
                                               JsonObject         *config,
                                               GError            **error);
gboolean        sluice_policy_order_falls_back (const SluicePolicyOrder *self,
                                                SluiceErrorCode          code);
/* The next target among @order (indices in the order to try them) after
 * @last_index failed with @last_error; see the chain policy. */
gint            sluice_policy_order_next      (const SluicePolicyOrder *self,
                                               SluiceContext           *context,
                                               SluiceTargetSet         *targets,
                                               const guint             *order,
                                               guint                    n_order,
                                               gint                     last_index,
                                               const GError            *last_error);

/* The SLUICE_ERROR code of @error: cancellations are CANCELLED, other
 * domains FAILED, %NULL 0. */
SluiceErrorCode sluice_policy_error_code      (const GError       *error);
/* The target's `max_attempts` (at least 1). */
guint           sluice_policy_max_attempts    (SluiceTargetSet    *targets,
                                               guint               index);
gboolean        sluice_policy_has_attempts_left (SluiceTargetSet  *targets,
                                                 SluiceContext    *context,
                                                 guint             index);

typedef gboolean (*SluicePolicyFilter) (SluiceTargetSet *targets,
                                        guint            index,
                                        gpointer         user_data);

/* The available targets (passing @filter, if given) that the request has
 * tried least, in list order, for policies that spread attempts: none
 * after an error the default chain would not fall back on; the last
 * target counts as tried once at least (its attempt may still be in
 * flight when a hedge is asked for) and not at all after a
 * non-retryable error. */
GArray         *sluice_policy_least_tried     (SluiceContext      *context,
                                               SluiceTargetSet    *targets,
                                               gint                last_index,
                                               const GError       *last_error,
                                               SluicePolicyFilter  filter,
                                               gpointer            user_data);

G_END_DECLS
