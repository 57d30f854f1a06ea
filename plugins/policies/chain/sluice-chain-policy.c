/* sluice-chain-policy.c — targets in list order.
 *
 * Before the first attempt: the first available target. After an error
 * of a kind in `fallback_on`: the same target again while the error is
 * retryable and the target has attempts left (except that a rate limit
 * moves on at once when `rate_limited` is `next` and a later target is
 * available), else the next available target after it — for
 * `context_overflow` one with a larger context window, for
 * `content_filter` one of another provider. Never a target before the
 * last one: a chain is tried once through.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "sluice-chain-policy.h"
#include "sluice-policy-order.h"

struct _SluiceChainPolicy
{
  GObject           parent_instance;
  SluicePolicyOrder order;
};

static void fallback_policy_iface_init (SluiceFallbackPolicyInterface *iface);

G_DEFINE_FINAL_TYPE_WITH_CODE (SluiceChainPolicy, sluice_chain_policy, G_TYPE_OBJECT,
                               G_IMPLEMENT_INTERFACE (SLUICE_TYPE_FALLBACK_POLICY,
                                                      fallback_policy_iface_init))

static gboolean
sluice_chain_policy_configure (SluiceFallbackPolicy  *policy,
                               JsonObject            *config,
                               SluiceTargetSet       *targets,
                               GError               **error)
{
  SluiceChainPolicy *self = SLUICE_CHAIN_POLICY (policy);

  return sluice_policy_order_configure (&self->order, config, error);
}

static gint
sluice_chain_policy_next_target (SluiceFallbackPolicy *policy,
                                 SluiceContext        *context,
                                 SluiceTargetSet      *targets,
                                 gint                  last_index,
                                 const GError         *last_error)
{
  SluiceChainPolicy *self = SLUICE_CHAIN_POLICY (policy);
  guint n = sluice_target_set_get_n_targets (targets);
  g_autofree guint *order = g_new (guint, MAX (n, 1));

  for (guint i = 0; i < n; i++)
    order[i] = i;
  return sluice_policy_order_next (&self->order, context, targets, order, n, last_index, last_error);
}

static void
fallback_policy_iface_init (SluiceFallbackPolicyInterface *iface)
{
  iface->configure = sluice_chain_policy_configure;
  iface->next_target = sluice_chain_policy_next_target;
}

static void
sluice_chain_policy_class_init (SluiceChainPolicyClass *klass)
{
}

static void
sluice_chain_policy_init (SluiceChainPolicy *self)
{
  sluice_policy_order_init (&self->order);
}
