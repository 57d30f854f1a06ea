/* sluice-target-set.c — targets, their breakers and their latency.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#define G_LOG_DOMAIN "sluice-target-set"

#include "sluice.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define N_LATENCIES 200
#define EWMA_ALPHA  0.2

typedef struct
{
  JsonObject    *target;
  SluiceBreaker *breaker;
  gdouble        ewma;           /* -1: no sample yet */
  gint64         latencies[N_LATENCIES];
  guint          n_latencies;    /* samples held, up to N_LATENCIES */
  guint          next;           /* where the next sample goes */
  guint64        served;
} Target;

struct _SluiceTargetSet
{
  GObject  parent_instance;
  GArray  *targets;   /* of Target */
};

G_DEFINE_FINAL_TYPE (SluiceTargetSet, sluice_target_set, G_TYPE_OBJECT)

static void
clear_target (Target *target)
{
  g_clear_pointer (&target->target, json_object_unref);
  g_clear_object (&target->breaker);
}

static void
sluice_target_set_finalize (GObject *object)
{
  g_array_unref (SLUICE_TARGET_SET (object)->targets);
  G_OBJECT_CLASS (sluice_target_set_parent_class)->finalize (object);
}

static void
sluice_target_set_class_init (SluiceTargetSetClass *klass)
{
  G_OBJECT_CLASS (klass)->finalize = sluice_target_set_finalize;
}

static void
sluice_target_set_init (SluiceTargetSet *self)
{
  self->targets = g_array_new (FALSE, TRUE, sizeof (Target));
  g_array_set_clear_func (self->targets, (GDestroyNotify) clear_target);
}

SluiceTargetSet *
sluice_target_set_new (void)
{
  return g_object_new (SLUICE_TYPE_TARGET_SET, NULL);
}

static Target *
get (SluiceTargetSet *self,
     guint            index)
{
  g_return_val_if_fail (SLUICE_IS_TARGET_SET (self), NULL);
  g_return_val_if_fail (index < self->targets->len, NULL);
  return &g_array_index (self->targets, Target, index);
}

guint
sluice_target_set_add (SluiceTargetSet *self,
                       JsonObject      *target,
                       SluiceBreaker   *breaker)
{
  Target entry = { 0 };

  g_return_val_if_fail (SLUICE_IS_TARGET_SET (self), 0);
  g_return_val_if_fail (target != NULL, 0);

  entry.target = json_object_ref (target);
  entry.breaker = breaker != NULL ? g_object_ref (breaker) : NULL;
  entry.ewma = -1;
  g_array_append_val (self->targets, entry);
  return self->targets->len - 1;
}

guint
sluice_target_set_get_n_targets (SluiceTargetSet *self)
{
  g_return_val_if_fail (SLUICE_IS_TARGET_SET (self), 0);
  return self->targets->len;
}

JsonObject *
sluice_target_set_get_target (SluiceTargetSet *self,
                              guint            index)
{
  Target *target = get (self, index);

  return target != NULL ? target->target : NULL;
}

const char *
sluice_target_set_get_provider (SluiceTargetSet *self,
                                guint            index)
{
  Target *target = get (self, index);

  return target != NULL ? sluice_json_get_string (target->target, "provider") : NULL;
}

const char *
sluice_target_set_get_model (SluiceTargetSet *self,
                             guint            index)
{
  Target *target = get (self, index);

  return target != NULL ? sluice_json_get_string (target->target, "model") : NULL;
}

SluiceBreaker *
sluice_target_set_get_breaker (SluiceTargetSet *self,
                               guint            index)
{
  Target *target = get (self, index);

  return target != NULL ? target->breaker : NULL;
}

gboolean
sluice_target_set_is_available (SluiceTargetSet *self,
                                guint            index)
{
  Target *target = get (self, index);

  if (target == NULL)
    return FALSE;
  return target->breaker == NULL || sluice_breaker_is_available (target->breaker, sluice_monotonic_ms ());
}

void
sluice_target_set_record_latency (SluiceTargetSet *self,
                                  guint            index,
                                  gint64           latency_ms)
{
  Target *target = get (self, index);

  if (target == NULL)
    return;
  latency_ms = MAX (latency_ms, 0);
  target->ewma = target->ewma < 0 ? (gdouble) latency_ms
                                  : EWMA_ALPHA * (gdouble) latency_ms + (1 - EWMA_ALPHA) * target->ewma;
  target->latencies[target->next] = latency_ms;
  target->next = (target->next + 1) % N_LATENCIES;
  target->n_latencies = MIN (target->n_latencies + 1, N_LATENCIES);
}

gdouble
sluice_target_set_get_latency_ewma (SluiceTargetSet *self,
                                    guint            index)
{
  Target *target = get (self, index);

  return target != NULL ? target->ewma : -1;
}

static int
compare_gint64 (gconstpointer a,
                gconstpointer b)
{
  gint64 x = *(const gint64 *) a, y = *(const gint64 *) b;

  return (x > y) - (x < y);
}

gint64
sluice_target_set_get_latency_percentile (SluiceTargetSet *self,
                                          guint            index,
                                          gdouble          percentile,
                                          guint            min_samples)
{
  Target *target = get (self, index);
  gint64 sorted[N_LATENCIES];
  guint n, rank;

  if (target == NULL || target->n_latencies == 0 || target->n_latencies < min_samples)
    return -1;
  n = target->n_latencies;
  memcpy (sorted, target->latencies, n * sizeof (gint64));
  qsort (sorted, n, sizeof (gint64), compare_gint64);
  /* nearest rank */
  rank = (guint) ceil (CLAMP (percentile, 0, 100) / 100.0 * n);
  return sorted[CLAMP (rank, 1, n) - 1];
}

guint
sluice_target_set_count_attempts (SluiceTargetSet *self,
                                  SluiceContext   *context,
                                  guint            index)
{
  JsonArray *attempts = sluice_context_get_attempts (context);
  guint count = 0;

  g_return_val_if_fail (SLUICE_IS_TARGET_SET (self), 0);
  /* Backwards to the last answer: a re-run of the call (a correction)
   * starts afresh. */
  for (guint i = json_array_get_length (attempts); i > 0; i--)
    {
      JsonObject *attempt = json_array_get_object_element (attempts, i - 1);
      const char *outcome = attempt != NULL ? sluice_json_get_string (attempt, "outcome") : NULL;

      if (g_strcmp0 (outcome, "ok") == 0)
        break;
      if (g_strcmp0 (outcome, "error") == 0 &&
          sluice_json_get_int (attempt, "target_index", -1) == (gint64) index)
        count++;
    }
  return count;
}

guint64
sluice_target_set_count_served (SluiceTargetSet *self,
                                guint            index)
{
  Target *target = get (self, index);

  return target != NULL ? target->served : 0;
}

void
sluice_target_set_add_served (SluiceTargetSet *self,
                              guint            index)
{
  Target *target = get (self, index);

  if (target != NULL)
    target->served++;
}
