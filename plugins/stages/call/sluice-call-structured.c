/* sluice-call-structured.c — how each target is told the shape of the
 * answer (`structured_output`): natively, by the provider's own means
 * (OpenAI response_format, an Anthropic forced tool, Gemini's response
 * schema), or by an instruction with the JSON Schema appended to the
 * system message, for servers that have no such means.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "sluice-call-private.h"

/* OpenAI's strict mode takes schemas nested at most 10 levels deep. */
#define MAX_STRICT_DEPTH 10

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

/* OpenAI's documented limits of a strict schema. */
#define STRICT_MAX_PROPERTIES  5000
#define STRICT_MAX_ENUM_VALUES 1000

typedef struct {
  guint properties;
  guint enum_values;
} StrictCount;

static gboolean
has_type (JsonObject *schema,
          const char *type)
{
  JsonNode *node = json_object_get_member (schema, "type");

  if (node != NULL && JSON_NODE_HOLDS_VALUE (node))
    return g_strcmp0 (json_node_get_string (node), type) == 0;
  if (node != NULL && JSON_NODE_HOLDS_ARRAY (node))
    for (guint i = 0; i < json_array_get_length (json_node_get_array (node)); i++)
      if (g_strcmp0 (json_array_get_string_element (json_node_get_array (node), i), type) == 0)
        return TRUE;
  return FALSE;
}

/* An enum of scalars, counted against the limit. */
static gboolean
fits_strict_enum (JsonNode    *values,
                  StrictCount *count)
{
  JsonArray *array;

  if (!JSON_NODE_HOLDS_ARRAY (values))
    return FALSE;
  array = json_node_get_array (values);
  count->enum_values += json_array_get_length (array);
  for (guint i = 0; i < json_array_get_length (array); i++)
    if (!JSON_NODE_HOLDS_VALUE (json_array_get_element (array, i)) &&
        !JSON_NODE_HOLDS_NULL (json_array_get_element (array, i)))
      return FALSE;
  return count->enum_values <= STRICT_MAX_ENUM_VALUES;
}

/* Whether OpenAI's strict mode takes @node as it is: only the keywords it
 * supports, every schema typed (or a $ref, anyOf, enum or const), every
 * array with its items, every object closed (additionalProperties:
 * false) with all its properties required, within the documented limits
 * (10 levels, 5000 properties, 1000 enum values). Anything else gets a
 * 400 from OpenAI. */
static gboolean
fits_openai_strict (JsonNode    *node,
                    guint        depth,
                    StrictCount *count)
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
  if (!json_object_has_member (schema, "type") && !json_object_has_member (schema, "$ref") &&
      !json_object_has_member (schema, "anyOf") && !json_object_has_member (schema, "enum") &&
      !json_object_has_member (schema, "const"))
    return FALSE;
  if (has_type (schema, "array") && !json_object_has_member (schema, "items"))
    return FALSE;
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
          if (g_str_equal (name, "properties"))
            count->properties += json_object_get_size (json_node_get_object (value));
          if (count->properties > STRICT_MAX_PROPERTIES)
            return FALSE;
          json_object_iter_init (&sub, json_node_get_object (value));
          while (json_object_iter_next (&sub, &sub_name, &sub_schema))
            if (!fits_openai_strict (sub_schema, depth + 1, count))
              return FALSE;
        }
      else if (g_str_equal (name, "items") && !fits_openai_strict (value, depth + 1, count))
        return FALSE;
      else if (g_str_equal (name, "enum") && !fits_strict_enum (value, count))
        return FALSE;
      else if (g_str_equal (name, "anyOf"))
        {
          if (!JSON_NODE_HOLDS_ARRAY (value))
            return FALSE;
          for (guint i = 0; i < json_array_get_length (json_node_get_array (value)); i++)
            if (!fits_openai_strict (json_array_get_element (json_node_get_array (value), i), depth + 1, count))
              return FALSE;
        }
    }
  return TRUE;
}

/* The root of a strict schema is an object, exactly: not a union. */
static gboolean
fits_openai_strict_root (JsonNode *schema)
{
  StrictCount count = { 0 };
  JsonNode *type;

  if (schema == NULL || !JSON_NODE_HOLDS_OBJECT (schema))
    return FALSE;
  type = json_object_get_member (json_node_get_object (schema), "type");
  if (type == NULL || !JSON_NODE_HOLDS_VALUE (type) || g_strcmp0 (json_node_get_string (type), "object") != 0)
    return FALSE;
  return fits_openai_strict (schema, 0, &count);
}

/* Anthropic's tool input_schema: an object at the root, and no anyOf,
 * oneOf or allOf there (Anthropic refuses them at the top level). */
static gboolean
fits_anthropic_tool (JsonNode *schema)
{
  JsonObject *root;

  if (schema == NULL || !JSON_NODE_HOLDS_OBJECT (schema) || !is_object_schema (json_node_get_object (schema)))
    return FALSE;
  root = json_node_get_object (schema);
  return !json_object_has_member (root, "anyOf") && !json_object_has_member (root, "oneOf") &&
         !json_object_has_member (root, "allOf");
}

CallStructured
sluice_call_structured_resolve (CallStructured  mode,
                                const char     *provider,
                                JsonObject     *target,
                                JsonNode       *schema)
{
  if (mode != CALL_STRUCTURED_AUTO)
    return mode;
  /* The target's own tools stay: native structured output would replace
   * them (Anthropic's forced tool) or be refused beside them (Gemini). */
  if (target != NULL && json_object_has_member (target, "tools"))
    return CALL_STRUCTURED_PROMPT;
  if (g_strcmp0 (provider, "gemini") == 0)
    return CALL_STRUCTURED_NATIVE;
  /* A tool's input and OpenAI's strict schema must be objects at the root. */
  if (g_strcmp0 (provider, "anthropic") == 0)
    return fits_anthropic_tool (schema) ? CALL_STRUCTURED_NATIVE : CALL_STRUCTURED_PROMPT;
  if (g_strcmp0 (provider, "openai") == 0)
    return fits_openai_strict_root (schema) ? CALL_STRUCTURED_NATIVE : CALL_STRUCTURED_PROMPT;
  /* openai-compatible servers differ in what they honour, and other
   * providers' means are unknown: a target says structured_output: native
   * when its server takes response_format json_schema. */
  return CALL_STRUCTURED_PROMPT;
}

/* What a provider will refuse when asked for native structured output
 * with @schema: NULL when it takes it (or when sluice cannot know). */
const char *
sluice_call_structured_native_refusal (const char *provider,
                                       JsonObject *target,
                                       JsonNode   *schema)
{
  gboolean object = schema != NULL && JSON_NODE_HOLDS_OBJECT (schema) &&
                    is_object_schema (json_node_get_object (schema));

  if (g_strcmp0 (provider, "anthropic") == 0 && target != NULL && json_object_has_member (target, "tools"))
    return "Anthropic's forced tool call would replace the target's own tools";
  if (g_strcmp0 (provider, "anthropic") == 0 && !fits_anthropic_tool (schema))
    return "Anthropic's forced tool call needs an object at the schema's root, without anyOf, oneOf or allOf there";
  if (g_strcmp0 (provider, "openai") == 0 && !object)
    return "OpenAI's strict mode needs an object at the schema's root";
  if (g_strcmp0 (provider, "openai") == 0 && !fits_openai_strict_root (schema))
    return "OpenAI's strict mode refuses this schema with a 400 (it needs a type on every schema, items on "
           "every array, additionalProperties: false and every property required on each object, only the "
           "keywords strict mode supports, and at most 10 levels, 5000 properties and 1000 enum values)";
  return NULL;
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
