/* sluice-route-policy.c — rules on the request pick a tier of targets.
 *
 * The first rule whose `when` holds names the tier (else `default`); the
 * targets whose `tier` member names it are tried in list order as the
 * chain policy tries them, then, with `spill`, the other targets in list
 * order.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "sluice-route-policy.h"
#include "sluice-policy-order.h"

#include <string.h>

typedef struct
{
  gint64      input_tokens_over;   /* -1: no such condition */
  GPtrArray  *keywords;            /* case-folded; NULL: none */
  JsonObject *labels;              /* NULL: none */
  JsonObject *variables;           /* NULL: none */
  char       *tier;
} Rule;

struct _SluiceRoutePolicy
{
  GObject            parent_instance;
  SluicePolicyOrder  order;
  GArray            *rules;          /* of Rule */
  char              *default_tier;   /* NULL: all targets */
  gboolean           spill;
};

static void fallback_policy_iface_init (SluiceFallbackPolicyInterface *iface);

G_DEFINE_FINAL_TYPE_WITH_CODE (SluiceRoutePolicy, sluice_route_policy, G_TYPE_OBJECT,
                               G_IMPLEMENT_INTERFACE (SLUICE_TYPE_FALLBACK_POLICY,
                                                      fallback_policy_iface_init))

static void
clear_rule (Rule *rule)
{
  g_clear_pointer (&rule->keywords, g_ptr_array_unref);
  g_clear_pointer (&rule->labels, json_object_unref);
  g_clear_pointer (&rule->variables, json_object_unref);
  g_clear_pointer (&rule->tier, g_free);
}

/* ---- reading the configuration -------------------------------------------- */

static JsonObject *
get_object (JsonObject *object,
            const char *member)
{
  JsonNode *node = json_object_get_member (object, member);

  return node != NULL && JSON_NODE_HOLDS_OBJECT (node) ? json_node_get_object (node) : NULL;
}

static gboolean
read_when (Rule        *rule,
           JsonObject  *when,
           guint        n,
           GError     **error)
{
  JsonNode *node;

  rule->input_tokens_over = -1;
  node = json_object_get_member (when, "input_tokens_over");
  if (node != NULL)
    {
      if (!JSON_NODE_HOLDS_VALUE (node) || json_node_get_value_type (node) != G_TYPE_INT64 ||
          json_node_get_int (node) < 0)
        return sluice_config_invalid (error, "rules/%u/when/input_tokens_over: must be a count", n);
      rule->input_tokens_over = json_node_get_int (node);
    }

  node = json_object_get_member (when, "keywords");
  if (node != NULL)
    {
      JsonArray *keywords = JSON_NODE_HOLDS_ARRAY (node) ? json_node_get_array (node) : NULL;

      if (keywords == NULL)
        return sluice_config_invalid (error, "rules/%u/when/keywords: must be a list of strings", n);
      rule->keywords = g_ptr_array_new_with_free_func (g_free);
      for (guint i = 0; i < json_array_get_length (keywords); i++)
        {
          JsonNode *element = json_array_get_element (keywords, i);
          const char *keyword = JSON_NODE_HOLDS_VALUE (element) ? json_node_get_string (element) : NULL;

          if (keyword == NULL || *keyword == '\0')
            return sluice_config_invalid (error, "rules/%u/when/keywords/%u: must be a non-empty string", n, i);
          g_ptr_array_add (rule->keywords, g_utf8_casefold (keyword, -1));
        }
    }

  if (json_object_has_member (when, "label"))
    {
      JsonObject *labels = get_object (when, "label");

      if (labels == NULL)
        return sluice_config_invalid (error, "rules/%u/when/label: must be an object of label values", n);
      rule->labels = json_object_ref (labels);
    }
  if (json_object_has_member (when, "variable"))
    {
      JsonObject *variables = get_object (when, "variable");

      if (variables == NULL)
        return sluice_config_invalid (error, "rules/%u/when/variable: must be an object of variable values", n);
      rule->variables = json_object_ref (variables);
    }
  return TRUE;
}

/* Whether some target's tier member names @tier. */
static gboolean
is_tier (SluiceTargetSet *targets,
         const char      *tier)
{
  for (guint i = 0; i < sluice_target_set_get_n_targets (targets); i++)
    if (g_strcmp0 (sluice_json_get_string (sluice_target_set_get_target (targets, i), "tier"), tier) == 0)
      return TRUE;
  return FALSE;
}

static char *
list_tiers (SluiceTargetSet *targets)
{
  g_autoptr(GPtrArray) tiers = g_ptr_array_new ();

  for (guint i = 0; i < sluice_target_set_get_n_targets (targets); i++)
    {
      const char *tier = sluice_json_get_string (sluice_target_set_get_target (targets, i), "tier");

      if (tier != NULL && !g_ptr_array_find_with_equal_func (tiers, tier, g_str_equal, NULL))
        g_ptr_array_add (tiers, (gpointer) tier);
    }
  if (tiers->len == 0)
    return g_strdup ("no target has a tier member");
  g_ptr_array_add (tiers, NULL);
  return g_strjoinv (", ", (char **) tiers->pdata);
}

static gboolean
check_tier (SluiceTargetSet  *targets,
            const char       *tier,
            const char       *where,
            GError          **error)
{
  g_autofree char *known = NULL;

  if (is_tier (targets, tier))
    return TRUE;
  known = list_tiers (targets);
  return sluice_config_invalid (error, "%s: tier '%s' is not the tier of any target (tiers: %s)", where, tier, known);
}

static gboolean
sluice_route_policy_configure (SluiceFallbackPolicy  *policy,
                               JsonObject            *config,
                               SluiceTargetSet       *targets,
                               GError               **error)
{
  SluiceRoutePolicy *self = SLUICE_ROUTE_POLICY (policy);
  JsonNode *node;

  g_array_set_size (self->rules, 0);
  g_clear_pointer (&self->default_tier, g_free);
  self->spill = TRUE;
  if (config == NULL)
    return TRUE;

  node = json_object_get_member (config, "rules");
  if (node != NULL)
    {
      JsonArray *rules = JSON_NODE_HOLDS_ARRAY (node) ? json_node_get_array (node) : NULL;

      if (rules == NULL)
        return sluice_config_invalid (error, "rules: must be a list of {when, tier}");
      for (guint i = 0; i < json_array_get_length (rules); i++)
        {
          JsonObject *object = json_array_get_object_element (rules, i);
          JsonObject *when = object != NULL ? get_object (object, "when") : NULL;
          const char *tier = sluice_json_get_string (object, "tier");
          g_autofree char *where = g_strdup_printf ("rules/%u/tier", i);
          Rule rule = { 0 };

          if (when == NULL || tier == NULL)
            return sluice_config_invalid (error, "rules/%u: needs when (an object) and tier (a string)", i);
          if (!check_tier (targets, tier, where, error))
            return FALSE;
          rule.tier = g_strdup (tier);
          /* Appended first, so that a half-read rule is cleared with the rest. */
          g_array_append_val (self->rules, rule);
          if (!read_when (&g_array_index (self->rules, Rule, i), when, i, error))
            return FALSE;
        }
    }

  node = json_object_get_member (config, "default");
  if (node != NULL)
    {
      const char *tier = JSON_NODE_HOLDS_VALUE (node) ? json_node_get_string (node) : NULL;

      if (tier == NULL)
        return sluice_config_invalid (error, "default: must be a tier name");
      if (!check_tier (targets, tier, "default", error))
        return FALSE;
      self->default_tier = g_strdup (tier);
    }

  node = json_object_get_member (config, "spill");
  if (node != NULL)
    {
      if (!JSON_NODE_HOLDS_VALUE (node) || json_node_get_value_type (node) != G_TYPE_BOOLEAN)
        return sluice_config_invalid (error, "spill: must be true or false");
      self->spill = json_node_get_boolean (node);
    }
  return TRUE;
}

/* ---- matching a request ----------------------------------------------------- */

/* The text of a message: a string, or the text of its parts. */
static void
append_content (GString    *text,
                JsonObject *message)
{
  JsonNode *content = message != NULL ? json_object_get_member (message, "content") : NULL;

  if (content == NULL)
    return;
  if (JSON_NODE_HOLDS_VALUE (content) && json_node_get_value_type (content) == G_TYPE_STRING)
    {
      g_string_append (text, json_node_get_string (content));
      g_string_append_c (text, '\n');
    }
  else if (JSON_NODE_HOLDS_ARRAY (content))
    {
      JsonArray *parts = json_node_get_array (content);

      for (guint i = 0; i < json_array_get_length (parts); i++)
        {
          const char *part = sluice_json_get_string (json_array_get_object_element (parts, i), "text");

          if (part != NULL)
            {
              g_string_append (text, part);
              g_string_append_c (text, '\n');
            }
        }
    }
}

/* What one request is matched on, worked out when a rule needs it. */
typedef struct
{
  SluiceContext *context;
  gint64         input_tokens;   /* -1: not yet */
  GString       *text;           /* every message content, one per line */
  char          *folded;         /* text, case-folded */
} Request;

static GString *
get_text (Request *request)
{
  if (request->text == NULL)
    {
      JsonArray *messages = sluice_context_get_messages (request->context);
      guint n = messages != NULL ? json_array_get_length (messages) : 0;

      request->text = g_string_new (NULL);
      for (guint i = 0; i < n; i++)
        append_content (request->text, json_array_get_object_element (messages, i));
    }
  return request->text;
}

static gint64
get_input_tokens (Request *request)
{
  JsonNode *node;

  if (request->input_tokens >= 0)
    return request->input_tokens;
  node = json_object_get_member (sluice_context_get_variables (request->context), "input_tokens");
  if (node != NULL && JSON_NODE_HOLDS_VALUE (node) && json_node_get_value_type (node) == G_TYPE_INT64)
    request->input_tokens = MAX (json_node_get_int (node), 0);
  else
    {
      GString *text = get_text (request);
      gsize bytes = 0;

      /* Without the separators get_text() put in. */
      for (gsize i = 0; i < text->len; i++)
        if (text->str[i] != '\n')
          bytes++;
      request->input_tokens = bytes / 4;
    }
  return request->input_tokens;
}

/* A scalar as text ("42", "true"), or NULL. */
static char *
value_text (JsonNode *node)
{
  if (node == NULL || !JSON_NODE_HOLDS_VALUE (node))
    return NULL;
  if (json_node_get_value_type (node) == G_TYPE_STRING)
    return g_strdup (json_node_get_string (node));
  return json_to_string (node, FALSE);
}

static gboolean
rule_matches (const Rule *rule,
              Request    *request)
{
  JsonObjectIter iter;
  const char *name;
  JsonNode *wanted;

  if (rule->input_tokens_over >= 0 && get_input_tokens (request) <= rule->input_tokens_over)
    return FALSE;

  if (rule->keywords != NULL)
    {
      gboolean found = FALSE;

      if (request->folded == NULL)
        request->folded = g_utf8_casefold (get_text (request)->str, -1);
      for (guint i = 0; i < rule->keywords->len && !found; i++)
        found = strstr (request->folded, g_ptr_array_index (rule->keywords, i)) != NULL;
      if (!found)
        return FALSE;
    }

  if (rule->labels != NULL)
    {
      json_object_iter_init (&iter, rule->labels);
      while (json_object_iter_next (&iter, &name, &wanted))
        {
          g_autofree char *value = value_text (wanted);

          if (value == NULL || g_strcmp0 (sluice_context_get_label (request->context, name), value) != 0)
            return FALSE;
        }
    }

  if (rule->variables != NULL)
    {
      JsonObject *variables = sluice_context_get_variables (request->context);

      json_object_iter_init (&iter, rule->variables);
      while (json_object_iter_next (&iter, &name, &wanted))
        {
          g_autofree char *value = value_text (wanted);
          g_autofree char *have = value_text (variables != NULL ? json_object_get_member (variables, name) : NULL);

          if (value == NULL || g_strcmp0 (have, value) != 0)
            return FALSE;
        }
    }
  return TRUE;
}

static const char *
pick_tier (SluiceRoutePolicy *self,
           SluiceContext     *context)
{
  Request request = { context, -1, NULL, NULL };
  const char *tier = self->default_tier;

  for (guint i = 0; i < self->rules->len; i++)
    if (rule_matches (&g_array_index (self->rules, Rule, i), &request))
      {
        tier = g_array_index (self->rules, Rule, i).tier;
        break;
      }
  if (request.text != NULL)
    g_string_free (request.text, TRUE);
  g_free (request.folded);
  return tier;
}

static gint
sluice_route_policy_next_target (SluiceFallbackPolicy *policy,
                                 SluiceContext        *context,
                                 SluiceTargetSet      *targets,
                                 gint                  last_index,
                                 const GError         *last_error)
{
  SluiceRoutePolicy *self = SLUICE_ROUTE_POLICY (policy);
  guint n = sluice_target_set_get_n_targets (targets);
  g_autofree guint *order = g_new (guint, MAX (n, 1));
  const char *tier = pick_tier (self, context);
  guint n_order = 0;

  /* The tier first, then (spilling) the rest; no tier: all of them. */
  for (guint i = 0; i < n; i++)
    if (tier == NULL || g_strcmp0 (sluice_json_get_string (sluice_target_set_get_target (targets, i), "tier"), tier) == 0)
      order[n_order++] = i;
  if (tier != NULL && self->spill)
    for (guint i = 0; i < n; i++)
      if (g_strcmp0 (sluice_json_get_string (sluice_target_set_get_target (targets, i), "tier"), tier) != 0)
        order[n_order++] = i;

  return sluice_policy_order_next (&self->order, context, targets, order, n_order, last_index, last_error);
}

static void
fallback_policy_iface_init (SluiceFallbackPolicyInterface *iface)
{
  iface->configure = sluice_route_policy_configure;
  iface->next_target = sluice_route_policy_next_target;
}

static void
sluice_route_policy_finalize (GObject *object)
{
  SluiceRoutePolicy *self = SLUICE_ROUTE_POLICY (object);

  g_array_unref (self->rules);
  g_free (self->default_tier);
  G_OBJECT_CLASS (sluice_route_policy_parent_class)->finalize (object);
}

static void
sluice_route_policy_class_init (SluiceRoutePolicyClass *klass)
{
  G_OBJECT_CLASS (klass)->finalize = sluice_route_policy_finalize;
}

static void
sluice_route_policy_init (SluiceRoutePolicy *self)
{
  sluice_policy_order_init (&self->order);
  self->rules = g_array_new (FALSE, TRUE, sizeof (Rule));
  g_array_set_clear_func (self->rules, (GDestroyNotify) clear_rule);
  self->spill = TRUE;
}
