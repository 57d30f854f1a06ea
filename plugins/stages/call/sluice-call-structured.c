/* sluice-call-structured.c — how each target is told the shape of the
 * answer (`structured_output`): natively, by the provider's own means
 * (OpenAI response_format, an Anthropic forced tool, Gemini's response
 * schema), or by an instruction with the JSON Schema appended to the
 * system message, for servers that have no such means.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "sluice-call-private.h"

/* Deeper schemas are not worth checking for OpenAI's strict mode. */
#define MAX_STRICT_DEPTH 32

gboolean
sluice_call_structured_from_name (const char        *name,
                                  CallStructured    *out)
{
  static const char * const names[] = { "off", "native", "prompt", "auto" };

  for (guint i = 0; i < G_N_ELEMENTS (names); i++)
    if (g_strcmp0 (name, names[i]) == 0)
      {
        *out = (CallStructured) i;
        return TRUE;
      }
  return FALSE;
}

const char *
sluice_call_structured_name (CallStructured mode)
{
  switch (mode)
    {
    case CALL_STRUCTURED_NATIVE:
      return "native";
    case CALL_STRUCTURED_PROMPT:
      return "prompt";
    case CALL_STRUCTURED_AUTO:
      return "auto";
    case CALL_STRUCTURED_OFF:
    default:
      return "off";
    }
}

static gboolean
lists_every_property (JsonObject *schema)
{
  JsonNode *properties = json_object_get_member (schema, "properties");
  JsonNode *required = json_object_get_member (schema, "required");
  JsonObjectIter iter;
  const char *name;
  JsonNode *value;

  if (properties == NULL)
    return TRUE;
  if (!JSON_NODE_HOLDS_OBJECT (properties) || required == NULL || !JSON_NODE_HOLDS_ARRAY (required))
    return FALSE;
  json_object_iter_init (&iter, json_node_get_object (properties));
  while (json_object_iter_next (&iter, &name, &value))
    {
      JsonArray *list = json_node_get_array (required);
      gboolean listed = FALSE;

      for (guint i = 0; i < json_array_get_length (list) && !listed; i++)
        listed = g_strcmp0 (json_array_get_string_element (list, i), name) == 0;
      if (!listed)
        return FALSE;
    }
  return TRUE;
}

static gboolean
is_object_schema (JsonObject *schema)
{
  JsonNode *type = json_object_get_member (schema, "type");

  if (json_object_has_member (schema, "properties"))
    return TRUE;
  if (type != NULL && JSON_NODE_HOLDS_VALUE (type))
    return g_strcmp0 (json_node_get_string (type), "object") == 0;
  if (type != NULL && JSON_NODE_HOLDS_ARRAY (type))
    for (guint i = 0; i < json_array_get_length (json_node_get_array (type)); i++)
      if (g_strcmp0 (json_array_get_string_element (json_node_get_array (type), i), "object") == 0)
        return TRUE;
  return FALSE;
}

/* Whether OpenAI's strict mode takes @node as it is: only the keywords it
 * supports, and every object closed (additionalProperties: false) with
 * all its properties required. Anything else gets a 400 from OpenAI. */
static gboolean
fits_openai_strict (JsonNode *node,
                    guint     depth)
{
  static const char * const supported[] = {
    "type", "properties", "required", "additionalProperties", "items", "enum", "const", "anyOf",
    "$ref", "$defs", "definitions", "description", "title", "$comment", "pattern", "format",
    "minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum", "multipleOf", "minItems", "maxItems",
    NULL
  };
  JsonObject *schema;
  JsonObjectIter iter;
  const char *name;
  JsonNode *value;

  if (depth > MAX_STRICT_DEPTH || !JSON_NODE_HOLDS_OBJECT (node))
    return FALSE;
  schema = json_node_get_object (node);
  if (is_object_schema (schema))
    {
      JsonNode *additional = json_object_get_member (schema, "additionalProperties");

      if (additional == NULL || !JSON_NODE_HOLDS_VALUE (additional) ||
          json_node_get_value_type (additional) != G_TYPE_BOOLEAN || json_node_get_boolean (additional) ||
          !lists_every_property (schema))
        return FALSE;
    }
  json_object_iter_init (&iter, schema);
  while (json_object_iter_next (&iter, &name, &value))
    {
      if (!g_strv_contains (supported, name))
        return FALSE;
      if (g_str_equal (name, "properties") || g_str_equal (name, "$defs") || g_str_equal (name, "definitions"))
        {
          JsonObjectIter sub;
          const char *sub_name;
          JsonNode *sub_schema;

          if (!JSON_NODE_HOLDS_OBJECT (value))
            return FALSE;
          json_object_iter_init (&sub, json_node_get_object (value));
          while (json_object_iter_next (&sub, &sub_name, &sub_schema))
            if (!fits_openai_strict (sub_schema, depth + 1))
              return FALSE;
        }
      else if (g_str_equal (name, "items") && !fits_openai_strict (value, depth + 1))
        return FALSE;
      else if (g_str_equal (name, "anyOf"))
        {
          if (!JSON_NODE_HOLDS_ARRAY (value))
            return FALSE;
          for (guint i = 0; i < json_array_get_length (json_node_get_array (value)); i++)
            if (!fits_openai_strict (json_array_get_element (json_node_get_array (value), i), depth + 1))
              return FALSE;
        }
    }
  return TRUE;
}

CallStructured
sluice_call_structured_resolve (CallStructured  mode,
                                const char     *provider,
                                JsonObject     *target,
                                JsonNode       *schema)
{
  gboolean object;

  if (mode != CALL_STRUCTURED_AUTO)
    return mode;
  /* The target's own tools stay: native structured output would replace
   * them (Anthropic's forced tool) or be refused beside them (Gemini). */
  if (target != NULL && json_object_has_member (target, "tools"))
    return CALL_STRUCTURED_PROMPT;
  object = schema != NULL && JSON_NODE_HOLDS_OBJECT (schema) && is_object_schema (json_node_get_object (schema));
  if (g_strcmp0 (provider, "gemini") == 0)
    return CALL_STRUCTURED_NATIVE;
  /* A tool's input and OpenAI's strict schema must be objects at the root. */
  if (g_strcmp0 (provider, "anthropic") == 0)
    return object ? CALL_STRUCTURED_NATIVE : CALL_STRUCTURED_PROMPT;
  if (g_strcmp0 (provider, "openai") == 0)
    return object && fits_openai_strict (schema, 0) ? CALL_STRUCTURED_NATIVE : CALL_STRUCTURED_PROMPT;
  /* openai-compatible servers differ in what they honour, and other
   * providers' means are unknown: a target says structured_output: native
   * when its server takes response_format json_schema. */
  return CALL_STRUCTURED_PROMPT;
}

char *
sluice_call_structured_instruction (JsonNode *schema)
{
  g_autofree char *text = sluice_json_to_string (schema);

  return g_strconcat ("Reply with only a JSON value that follows this JSON Schema: no prose before or "
                      "after it, no Markdown code fences.\nJSON Schema: ", text, NULL);
}

JsonArray *
sluice_call_structured_messages (JsonArray  *messages,
                                 const char *instruction)
{
  JsonArray *copy = json_array_new ();
  guint n = messages != NULL ? json_array_get_length (messages) : 0;
  JsonObject *first = n > 0 ? json_array_get_object_element (messages, 0) : NULL;
  const char *content = first != NULL ? sluice_json_get_string (first, "content") : NULL;

  if (first != NULL && g_strcmp0 (sluice_json_get_string (first, "role"), "system") == 0 && content != NULL)
    {
      g_autofree char *joined = *content != '\0' ? g_strconcat (content, "\n\n", instruction, NULL)
                                                 : g_strdup (instruction);
      JsonObject *system = json_object_new ();
      JsonObjectIter iter;
      const char *name;
      JsonNode *value;

      json_object_iter_init (&iter, first);
      while (json_object_iter_next (&iter, &name, &value))
        json_object_set_member (system, name, json_node_ref (value));
      json_object_set_string_member (system, "content", joined);
      json_array_add_object_element (copy, system);
    }
  else
    {
      JsonObject *system = json_object_new ();

      json_object_set_string_member (system, "role", "system");
      json_object_set_string_member (system, "content", instruction);
      json_array_add_object_element (copy, system);
      if (first != NULL)
        json_array_add_element (copy, json_node_ref (json_array_get_element (messages, 0)));
    }
  for (guint i = 1; i < n; i++)
    json_array_add_element (copy, json_node_ref (json_array_get_element (messages, i)));
  return copy;
}
