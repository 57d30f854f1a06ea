/* sluice-fallback-policy.c — the SluiceFallbackPolicy interface.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#define G_LOG_DOMAIN "sluice-fallback-policy"

#include "sluice.h"

G_DEFINE_INTERFACE (SluiceFallbackPolicy, sluice_fallback_policy, G_TYPE_OBJECT)

static gboolean
sluice_fallback_policy_real_configure (SluiceFallbackPolicy  *self,
                                       JsonObject            *config,
                                       SluiceTargetSet       *targets,
                                       GError               **error)
{
  return TRUE;
}

static gint
sluice_fallback_policy_real_next_target (SluiceFallbackPolicy *self,
                                         SluiceContext        *context,
                                         SluiceTargetSet      *targets,
                                         gint                  last_index,
                                         const GError         *last_error)
{
  return -1;
}

static void
sluice_fallback_policy_default_init (SluiceFallbackPolicyInterface *iface)
{
  iface->configure = sluice_fallback_policy_real_configure;
  iface->next_target = sluice_fallback_policy_real_next_target;
}

gboolean
sluice_fallback_policy_configure (SluiceFallbackPolicy  *self,
                                  JsonObject            *config,
                                  SluiceTargetSet       *targets,
                                  GError               **error)
{
  GError *local_error = NULL;

  g_return_val_if_fail (SLUICE_IS_FALLBACK_POLICY (self), FALSE);
  g_return_val_if_fail (SLUICE_IS_TARGET_SET (targets), FALSE);

  if (SLUICE_FALLBACK_POLICY_GET_IFACE (self)->configure (self, config, targets, &local_error))
    return TRUE;
  if (local_error == NULL)
    local_error = g_error_new (SLUICE_ERROR, SLUICE_ERROR_FAILED,
                               "policy %s rejected its configuration without an error",
                               G_OBJECT_TYPE_NAME (self));
  g_propagate_error (error, local_error);
  return FALSE;
}

gint
sluice_fallback_policy_next_target (SluiceFallbackPolicy *self,
                                    SluiceContext        *context,
                                    SluiceTargetSet      *targets,
                                    gint                  last_index,
                                    const GError         *last_error)
{
  gint next;

  g_return_val_if_fail (SLUICE_IS_FALLBACK_POLICY (self), -1);
  g_return_val_if_fail (SLUICE_IS_TARGET_SET (targets), -1);

  next = SLUICE_FALLBACK_POLICY_GET_IFACE (self)->next_target (self, context, targets, last_index, last_error);
  /* A policy's slip must not index past the targets. */
  if (next >= (gint) sluice_target_set_get_n_targets (targets))
    {
      g_warning ("policy %s picked target %d of %u; giving up", G_OBJECT_TYPE_NAME (self), next,
                 sluice_target_set_get_n_targets (targets));
      return -1;
    }
  return MAX (next, -1);
}
