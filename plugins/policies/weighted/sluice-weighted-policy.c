/* sluice-weighted-policy.c — weighted random choice among the targets.
 *
 * Each pick is among the available targets the request has tried least
 * (so a failed target is not picked again while an untried one is
 * left), with chances in proportion to the targets' `weight` members
 * (default 1; 0 never picks the target).
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "sluice-weighted-policy.h"
#include "sluice-policy-order.h"

struct _SluiceWeightedPolicy
{
  GObject  parent_instance;
  GMutex   lock;   /* guards rand: a policy serves concurrent requests */
  GRand   *rand;   /* NULL: the process-wide generator */
};

static void fallback_policy_iface_init (SluiceFallbackPolicyInterface *iface);

G_DEFINE_FINAL_TYPE_WITH_CODE (SluiceWeightedPolicy, sluice_weighted_policy, G_TYPE_OBJECT,
                               G_IMPLEMENT_INTERFACE (SLUICE_TYPE_FALLBACK_POLICY,
                                                      fallback_policy_iface_init))

static gdouble
get_weight (SluiceTargetSet *targets,
            guint            index)
{
  JsonObject *target = sluice_target_set_get_target (targets, index);
  JsonNode *node = target != NULL ? json_object_get_member (target, "weight") : NULL;
  GType type;

  if (node == NULL || !JSON_NODE_HOLDS_VALUE (node))
    return 1;
  type = json_node_get_value_type (node);
  if (type != G_TYPE_INT64 && type != G_TYPE_DOUBLE)
    return 1;
  return MAX (json_node_get_double (node), 0);
}

static gboolean
has_weight (SluiceTargetSet *targets,
            guint            index,
            gpointer         user_data)
{
  return get_weight (targets, index) > 0;
}

static gboolean
sluice_weighted_policy_configure (SluiceFallbackPolicy  *policy,
                                  JsonObject            *config,
                                  SluiceTargetSet       *targets,
                                  GError               **error)
{
  SluiceWeightedPolicy *self = SLUICE_WEIGHTED_POLICY (policy);
  JsonNode *seed = config != NULL ? json_object_get_member (config, "seed") : NULL;

  if (seed != NULL && (!JSON_NODE_HOLDS_VALUE (seed) || json_node_get_value_type (seed) != G_TYPE_INT64))
    {
      g_set_error_literal (error, SLUICE_ERROR, SLUICE_ERROR_INVALID_CONFIG,
                           "seed: must be an integer");
      return FALSE;
    }

  g_mutex_lock (&self->lock);
  g_clear_pointer (&self->rand, g_rand_free);
  if (seed != NULL)
    self->rand = g_rand_new_with_seed ((guint32) json_node_get_int (seed));
  g_mutex_unlock (&self->lock);
  return TRUE;
}

static gint
sluice_weighted_policy_next_target (SluiceFallbackPolicy *policy,
                                    SluiceContext        *context,
                                    SluiceTargetSet      *targets,
                                    gint                  last_index,
                                    const GError         *last_error)
{
  SluiceWeightedPolicy *self = SLUICE_WEIGHTED_POLICY (policy);
  g_autoptr(GArray) least = sluice_policy_least_tried (context, targets, last_index, last_error,
                                                       has_weight, NULL);
  gdouble total = 0, point;

  if (least->len == 0)
    return -1;
  for (guint i = 0; i < least->len; i++)
    total += get_weight (targets, g_array_index (least, guint, i));

  g_mutex_lock (&self->lock);
  point = (self->rand != NULL ? g_rand_double (self->rand) : g_random_double ()) * total;
  g_mutex_unlock (&self->lock);

  for (guint i = 0; i < least->len; i++)
    {
      guint index = g_array_index (least, guint, i);

      point -= get_weight (targets, index);
      if (point < 0)
        return index;
    }
  /* Rounding left the point at the very end. */
  return g_array_index (least, guint, least->len - 1);
}

static void
fallback_policy_iface_init (SluiceFallbackPolicyInterface *iface)
{
  iface->configure = sluice_weighted_policy_configure;
  iface->next_target = sluice_weighted_policy_next_target;
}

static void
sluice_weighted_policy_finalize (GObject *object)
{
  SluiceWeightedPolicy *self = SLUICE_WEIGHTED_POLICY (object);

  g_clear_pointer (&self->rand, g_rand_free);
  g_mutex_clear (&self->lock);
  G_OBJECT_CLASS (sluice_weighted_policy_parent_class)->finalize (object);
}

static void
sluice_weighted_policy_class_init (SluiceWeightedPolicyClass *klass)
{
  G_OBJECT_CLASS (klass)->finalize = sluice_weighted_policy_finalize;
}

static void
sluice_weighted_policy_init (SluiceWeightedPolicy *self)
{
  g_mutex_init (&self->lock);
}
