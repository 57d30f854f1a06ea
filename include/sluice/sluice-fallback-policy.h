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

G_BEGIN_DECLS

#define SLUICE_TYPE_FALLBACK_POLICY (sluice_fallback_policy_get_type ())
G_DECLARE_INTERFACE (SluiceFallbackPolicy, sluice_fallback_policy, SLUICE, FALLBACK_POLICY, GObject)

/**
 * SluiceFallbackPolicyInterface:
 * @configure: read the `call` stage's policy block and its targets
 * @next_target: given the attempts so far (in the context) and the last
 *   error (%NULL before the first attempt), the index of the next target
 *   to try, or -1 to give up
 *
 * Picking is synchronous: a policy decides from state it already holds.
 */
struct _SluiceFallbackPolicyInterface
{
  GTypeInterface parent_iface;

  gboolean (*configure)   (SluiceFallbackPolicy  *self,
                           JsonObject            *config,
                           JsonArray             *targets,
                           GError               **error);
  gint     (*next_target) (SluiceFallbackPolicy  *self,
                           SluiceContext         *context,
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
                                             JsonArray             *targets,
                                             GError               **error);
/**
 * sluice_fallback_policy_next_target:
 * @self: a #SluiceFallbackPolicy
 * @context: the request
 * @last_error: (nullable): the last attempt's error
 *
 * Returns: the index of the next target, or -1 to give up
 */
gint     sluice_fallback_policy_next_target (SluiceFallbackPolicy  *self,
                                             SluiceContext         *context,
                                             const GError          *last_error);

G_END_DECLS
