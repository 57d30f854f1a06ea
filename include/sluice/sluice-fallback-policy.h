/* sluice-fallback-policy.h — the extension point that picks the next target.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#pragma once

#if !defined (SLUICE_INSIDE) && !defined (SLUICE_COMPILATION)
# error "Only <sluice.h> can be included directly."
#endif

#include <gio/gio.h>
#include <json-glib/json-glib.h>

#include "sluice-context.h"
#include "sluice-target-set.h"

G_BEGIN_DECLS

#define SLUICE_TYPE_FALLBACK_POLICY (sluice_fallback_policy_get_type ())
G_DECLARE_INTERFACE (SluiceFallbackPolicy, sluice_fallback_policy, SLUICE, FALLBACK_POLICY, GObject)

/**
 * SluiceFallbackPolicyInterface:
 * @configure: read the policy's block of the `call` stage; @targets holds
 *   the stage's targets (their public members)
 * @next_target: pick the target of the next attempt
 *
 * The `call` stage asks @next_target before the first attempt
 * (@last_index -1, @last_error %NULL), after each failed attempt, and
 * when the picked target's breaker refuses the call (@last_error is then
 * `circuit_open`). The attempts so far are in the context's attempts, each
 * with its `target_index`. Returning @last_index again asks for a retry of
 * the same target after the backoff: the stage does that only for a
 * retryable error and within the target's `max_attempts` and the request's
 * retry budget; otherwise it gives up. A different index is tried at once.
 * Return -1 to give up. Picking is synchronous: a policy decides from the
 * state it and the target set hold.
 */
struct _SluiceFallbackPolicyInterface
{
  GTypeInterface parent_iface;

  gboolean (*configure)   (SluiceFallbackPolicy  *self,
                           JsonObject            *config,
                           SluiceTargetSet       *targets,
                           GError               **error);
  gint     (*next_target) (SluiceFallbackPolicy  *self,
                           SluiceContext         *context,
                           SluiceTargetSet       *targets,
                           gint                   last_index,
                           const GError          *last_error);

  /*< private >*/
  gpointer padding[8];
};

/**
 * sluice_fallback_policy_configure:
 * @self: a #SluiceFallbackPolicy
 * @config: (transfer none): the policy's configuration
 * @targets: (transfer none): the `call` stage's targets
 * @error: return location for a #GError
 *
 * Returns: %TRUE if accepted
 */
gboolean sluice_fallback_policy_configure   (SluiceFallbackPolicy  *self,
                                             JsonObject            *config,
                                             SluiceTargetSet       *targets,
                                             GError               **error);
/**
 * sluice_fallback_policy_next_target:
 * @self: a #SluiceFallbackPolicy
 * @context: the request
 * @targets: the `call` stage's targets and their health
 * @last_index: the target of the last attempt, or -1 before the first
 * @last_error: (nullable): the last attempt's error
 *
 * Returns: the index of the next target, or -1 to give up
 */
gint     sluice_fallback_policy_next_target (SluiceFallbackPolicy  *self,
                                             SluiceContext         *context,
                                             SluiceTargetSet       *targets,
                                             gint                   last_index,
                                             const GError          *last_error);

G_END_DECLS
