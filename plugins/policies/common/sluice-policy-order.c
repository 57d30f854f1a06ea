/* sluice-policy-order.c — what the fallback policies share.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "sluice-policy-order.h"

#define BIT(code) (G_GUINT64_CONSTANT (1) << (code))

/* Every kind a provider call can end with, and circuit_open, except
 * bad_request: a request the provider calls malformed is malformed
 * for the next target too. */
static const SluiceErrorCode default_fallback_on[] = {
  SLUICE_ERROR_RATE_LIMITED, SLUICE_ERROR_OVERLOADED, SLUICE_ERROR_SERVER,
  SLUICE_ERROR_TIMEOUT, SLUICE_ERROR_NETWORK, SLUICE_ERROR_TRUNCATED,
  SLUICE_ERROR_MALFORMED, SLUICE_ERROR_AUTH, SLUICE_ERROR_NOT_FOUND,
  SLUICE_ERROR_BUDGET_EXCEEDED, SLUICE_ERROR_CONTEXT_OVERFLOW,
  SLUICE_ERROR_CONTENT_FILTER, SLUICE_ERROR_CIRCUIT_OPEN,
};

void
sluice_policy_order_init (SluicePolicyOrder *self)
{
  self->fallback_on = 0;
  for (guint i = 0; i < G_N_ELEMENTS (default_fallback_on); i++)
    self->fallback_on |= BIT (default_fallback_on[i]);
  self->rate_limited_wait = FALSE;
}

static SluiceErrorCode
code_from_kind (const char *kind)
{
  for (SluiceErrorCode code = SLUICE_ERROR_FAILED; code <= SLUICE_ERROR_CIRCUIT_OPEN; code++)
    if (g_strcmp0 (sluice_error_kind (code), kind) == 0)
      return code;
  return 0;
}

gboolean
sluice_policy_order_configure (SluicePolicyOrder  *self,
                               JsonObject         *config,
                               GError            **error)
{
  JsonNode *node;
  const char *rate_limited;

  sluice_policy_order_init (self);
  if (config == NULL)
    return TRUE;

  node = json_object_get_member (config, "fallback_on");
  if (node != NULL)
    {
      JsonArray *kinds = JSON_NODE_HOLDS_ARRAY (node) ? json_node_get_array (node) : NULL;

      if (kinds == NULL)
        {
          g_set_error_literal (error, SLUICE_ERROR, SLUICE_ERROR_INVALID_CONFIG,
                               "fallback_on: must be a list of error kinds");
          return FALSE;
        }
      self->fallback_on = 0;
      for (guint i = 0; i < json_array_get_length (kinds); i++)
        {
          JsonNode *element = json_array_get_element (kinds, i);
          const char *kind = JSON_NODE_HOLDS_VALUE (element) ? json_node_get_string (element) : NULL;
          SluiceErrorCode code = code_from_kind (kind);

          if (code == 0)
            {
              g_set_error (error, SLUICE_ERROR, SLUICE_ERROR_INVALID_CONFIG,
                           "fallback_on/%u: '%s' is not an error kind", i, kind != NULL ? kind : "(not a string)");
              return FALSE;
            }
          self->fallback_on |= BIT (code);
        }
    }

  node = json_object_get_member (config, "rate_limited");
  if (node != NULL)
    {
      rate_limited = JSON_NODE_HOLDS_VALUE (node) ? json_node_get_string (node) : NULL;
      if (g_strcmp0 (rate_limited, "wait") == 0)
        self->rate_limited_wait = TRUE;
      else if (g_strcmp0 (rate_limited, "next") != 0)
        {
          g_set_error_literal (error, SLUICE_ERROR, SLUICE_ERROR_INVALID_CONFIG,
                               "rate_limited: must be 'next' or 'wait'");
          return FALSE;
        }
    }
  return TRUE;
}

gboolean
sluice_policy_order_falls_back (const SluicePolicyOrder *self,
                                SluiceErrorCode          code)
{
  return code > 0 && code < 64 && (self->fallback_on & BIT (code)) != 0;
}

SluiceErrorCode
sluice_policy_error_code (const GError *error)
{
  if (error == NULL)
    return 0;
  if (error->domain == SLUICE_ERROR)
    return error->code;
  if (g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
    return SLUICE_ERROR_CANCELLED;
  return SLUICE_ERROR_FAILED;
}

guint
sluice_policy_max_attempts (SluiceTargetSet *targets,
                            guint            index)
{
  JsonObject *target = sluice_target_set_get_target (targets, index);

  /* The stage always fills it in; without it, no retries. */
  return (guint) CLAMP (sluice_json_get_int (target, "max_attempts", 1), 1, G_MAXINT);
}

gboolean
sluice_policy_has_attempts_left (SluiceTargetSet *targets,
                                 SluiceContext   *context,
                                 guint            index)
{
  return sluice_target_set_count_attempts (targets, context, index) <
         sluice_policy_max_attempts (targets, index);
}

/* -1 when the catalog does not know it. */
static gint64
context_window (SluiceTargetSet *targets,
                guint            index)
{
  const char *provider = sluice_target_set_get_provider (targets, index);
  const char *model = sluice_target_set_get_model (targets, index);
  JsonObject *entry;

  if (provider == NULL || model == NULL)
    return -1;
  entry = sluice_catalog_lookup (sluice_catalog_get_default (), provider, model);
  return sluice_json_get_int (entry, "context_window", -1);
}

/* Whether @candidate could answer what @last could not, as @code says. */
static gboolean
can_replace (SluiceTargetSet *targets,
             guint            last,
             guint            candidate,
             SluiceErrorCode  code)
{
  switch (code)
    {
    case SLUICE_ERROR_CONTEXT_OVERFLOW:
      {
        gint64 last_window = context_window (targets, last);
        gint64 window = context_window (targets, candidate);

        if (last_window >= 0 && window >= 0)
          return window > last_window;
        /* Unknown: any other model may have the room. */
        return g_strcmp0 (sluice_target_set_get_model (targets, last),
                          sluice_target_set_get_model (targets, candidate)) != 0;
      }
    case SLUICE_ERROR_CONTENT_FILTER:
      return g_strcmp0 (sluice_target_set_get_provider (targets, last),
                        sluice_target_set_get_provider (targets, candidate)) != 0;
    default:
      return TRUE;
    }
}

gint
sluice_policy_order_next (const SluicePolicyOrder *self,
                          SluiceContext           *context,
                          SluiceTargetSet         *targets,
                          const guint             *order,
                          guint                    n_order,
                          gint                     last_index,
                          const GError            *last_error)
{
  SluiceErrorCode code;
  gboolean can_retry;
  guint start = 0;
  gint next = -1;

  if (last_index < 0)
    {
      for (guint i = 0; i < n_order; i++)
        if (sluice_target_set_is_available (targets, order[i]))
          return order[i];
      return -1;
    }

  code = sluice_policy_error_code (last_error);
  can_retry = code != 0 && sluice_error_code_is_retryable (code) &&
              sluice_target_set_is_available (targets, last_index) &&
              sluice_policy_has_attempts_left (targets, context, last_index);
  /* An attempt that failed without saying why is not retried. */
  if (code != 0 && !sluice_policy_order_falls_back (self, code))
    return can_retry ? last_index : -1;

  /* Never back: after the last target's place, or from the start if it
   * is not in @order at all. */
  for (guint i = 0; i < n_order; i++)
    if (order[i] == (guint) last_index)
      {
        start = i + 1;
        break;
      }
  for (guint i = start; i < n_order && next < 0; i++)
    if (order[i] != (guint) last_index &&
        sluice_target_set_is_available (targets, order[i]) &&
        sluice_policy_has_attempts_left (targets, context, order[i]) &&
        can_replace (targets, last_index, order[i], code))
      next = order[i];

  /* Spend the target's attempts before moving on, unless a rate limit
   * says to move on at once and there is somewhere to go. */
  if (can_retry &&
      !(code == SLUICE_ERROR_RATE_LIMITED && !self->rate_limited_wait && next >= 0))
    return last_index;
  return next;
}

GArray *
sluice_policy_least_tried (SluiceContext      *context,
                           SluiceTargetSet    *targets,
                           gint                last_index,
                           const GError       *last_error,
                           SluicePolicyFilter  filter,
                           gpointer            user_data)
{
  GArray *least = g_array_new (FALSE, FALSE, sizeof (guint));
  SluiceErrorCode code = sluice_policy_error_code (last_error);
  SluicePolicyOrder defaults;
  guint fewest = G_MAXUINT;

  sluice_policy_order_init (&defaults);
  if (last_index >= 0 && code != 0 && !sluice_policy_order_falls_back (&defaults, code))
    return least;

  for (guint i = 0; i < sluice_target_set_get_n_targets (targets); i++)
    {
      guint count;

      if (!sluice_target_set_is_available (targets, i) ||
          (filter != NULL && !filter (targets, i, user_data)) ||
          !sluice_policy_has_attempts_left (targets, context, i))
        continue;
      count = sluice_target_set_count_attempts (targets, context, i);
      if ((gint) i == last_index)
        {
          if (code == 0 || !sluice_error_code_is_retryable (code))
            continue;
          count = MAX (count, 1);
        }
      if (count < fewest)
        {
          g_array_set_size (least, 0);
          fewest = count;
        }
      if (count == fewest)
        g_array_append_val (least, i);
    }
  return least;
}
