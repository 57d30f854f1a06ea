/* sluice-least-latency-policy.c — the fastest target so far.
 *
 * Each pick is among the available targets the request has tried least:
 * the one with the lowest moving average latency, a target without a
 * sample counting as 0 so that new targets get explored; ties go to the
 * earlier target in the list.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "sluice-least-latency-policy.h"
#include "sluice-policy-order.h"

struct _SluiceLeastLatencyPolicy
{
  GObject parent_instance;
};

static void fallback_policy_iface_init (SluiceFallbackPolicyInterface *iface);

G_DEFINE_FINAL_TYPE_WITH_CODE (SluiceLeastLatencyPolicy, sluice_least_latency_policy, G_TYPE_OBJECT,
                               G_IMPLEMENT_INTERFACE (SLUICE_TYPE_FALLBACK_POLICY,
                                                      fallback_policy_iface_init))

static gint
sluice_least_latency_policy_next_target (SluiceFallbackPolicy *policy,
                                         SluiceContext        *context,
                                         SluiceTargetSet      *targets,
                                         gint                  last_index,
                                         const GError         *last_error)
{
  g_autoptr(GArray) least = sluice_policy_least_tried (context, targets, last_index, last_error,
                                                       NULL, NULL);
  gint best = -1;
  gdouble best_ewma = 0;

  for (guint i = 0; i < least->len; i++)
    {
      guint index = g_array_index (least, guint, i);
      gdouble ewma = MAX (sluice_target_set_get_latency_ewma (targets, index), 0);

      if (best < 0 || ewma < best_ewma)
        {
          best = index;
          best_ewma = ewma;
        }
    }
  return best;
}

static void
fallback_policy_iface_init (SluiceFallbackPolicyInterface *iface)
{
  /* Nothing to configure: the schema admits only {}. */
  iface->next_target = sluice_least_latency_policy_next_target;
}

static void
sluice_least_latency_policy_class_init (SluiceLeastLatencyPolicyClass *klass)
{
}

static void
sluice_least_latency_policy_init (SluiceLeastLatencyPolicy *self)
{
}
