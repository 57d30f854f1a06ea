/* sluice-cache-key.c — the cache key: a SHA-256 over a canonical JSON of
 * the provider-agnostic request.
 *
 * The request is {"messages", "targets", "parameters", "call",
 * "output_schema", "pipeline"}: the messages as assemble built them, each
 * target's provider and model, each target's model parameters
 * (temperature, max_tokens, ...: every member but the ones that only say
 * how to reach the provider or how to retry), the call stage's
 * structured_output, the pipeline's output schema, and the SHA-256 of the
 * pipeline file (any edit of the file starts a fresh cache). A member
 * that might change the answer is kept in the key: a needless miss costs
 * one call, a wrong hit a wrong answer.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "sluice-cache-private.h"

#include <math.h>
#include <stdlib.h>

/* Target members that do not change the answer: where and how to reach
 * the provider, and the call stage's own bookkeeping. The credential is
 * never part of a key. */
static const char * const transport_members[] = {
  "provider", "model", "api_key", "base_url", "name", "timeout", "connect_timeout",
  "first_byte_timeout", "idle_timeout", "max_attempts", "weight", "tier", "hedge", "stream",
  "headers", NULL
};

static gint
compare_names (gconstpointer a,
               gconstpointer b)
{
  return g_strcmp0 (*(const char * const *) a, *(const char * const *) b);
}

static void
write_canonical (GString  *out,
                 JsonNode *node)
{
  if (node == NULL || JSON_NODE_HOLDS_NULL (node))
    {
      g_string_append (out, "null");
      return;
    }
  if (JSON_NODE_HOLDS_OBJECT (node))
    {
      JsonObject *object = json_node_get_object (node);
      g_autoptr(GList) members = json_object_get_members (object);
      g_autoptr(GPtrArray) names = g_ptr_array_new ();

      for (GList *l = members; l != NULL; l = l->next)
        g_ptr_array_add (names, l->data);
      g_ptr_array_sort (names, compare_names);
      g_string_append_c (out, '{');
      for (guint i = 0; i < names->len; i++)
        {
          g_autoptr(JsonNode) name = json_node_init_string (json_node_alloc (), g_ptr_array_index (names, i));

          if (i > 0)
            g_string_append_c (out, ',');
          write_canonical (out, name);
          g_string_append_c (out, ':');
          write_canonical (out, json_object_get_member (object, g_ptr_array_index (names, i)));
        }
      g_string_append_c (out, '}');
      return;
    }
  if (JSON_NODE_HOLDS_ARRAY (node))
    {
      JsonArray *array = json_node_get_array (node);

      g_string_append_c (out, '[');
      for (guint i = 0; i < json_array_get_length (array); i++)
        {
          if (i > 0)
            g_string_append_c (out, ',');
          write_canonical (out, json_array_get_element (array, i));
        }
      g_string_append_c (out, ']');
      return;
    }
  if (json_node_get_value_type (node) == G_TYPE_DOUBLE)
    {
      gdouble value = json_node_get_double (node);

      /* 0 and 0.0 are the same temperature. */
      if (isfinite (value) && fabs (value) < 9007199254740992.0 && value == (gdouble) (gint64) value)
        g_string_append_printf (out, "%" G_GINT64_FORMAT, (gint64) value);
      else
        sluice_json_append_double (out, value);
      return;
    }
  {
    g_autofree char *text = sluice_json_to_string (node);

    g_string_append (out, text);
  }
}

char *
cache_canonical_json (JsonNode *node)
{
  GString *out = g_string_new (NULL);

  write_canonical (out, node);
  return g_string_free (out, FALSE);
}

/* A temperature given as a number or as a numeric string (from ${ENV});
 * -1 when it is not set or not a number. */
static gdouble
temperature_of (JsonObject *target)
{
  JsonNode *node = json_object_get_member (target, "temperature");
  const char *text;
  char *end = NULL;
  gdouble value;

  if (node == NULL || !JSON_NODE_HOLDS_VALUE (node))
    return -1;
  if (json_node_get_value_type (node) != G_TYPE_STRING)
    return json_node_get_double (node);
  text = json_node_get_string (node);
  value = g_ascii_strtod (text, &end);
  return end != text && *end == '\0' ? value : -1;
}

static void
add_target (CacheKeyParts *parts,
            JsonObject    *target)
{
  JsonArray *targets = json_node_get_array (parts->targets);
  JsonArray *parameters = json_node_get_array (parts->parameters);
  JsonObject *named = json_object_new ();
  JsonObject *params = json_object_new ();
  JsonObjectIter iter;
  const char *name;
  JsonNode *value;

  json_object_set_string_member (named, "provider", sluice_json_get_string (target, "provider"));
  json_object_set_string_member (named, "model", sluice_json_get_string (target, "model"));
  json_array_add_object_element (targets, named);

  json_object_iter_init (&iter, target);
  while (json_object_iter_next (&iter, &name, &value))
    if (!g_strv_contains (transport_members, name))
      json_object_set_member (params, name, json_node_copy (value));
  json_array_add_object_element (parameters, params);

  /* No temperature: the provider's default, 1 for the usual ones. */
  if (temperature_of (target) != 0)
    parts->deterministic = FALSE;
}

gboolean
cache_key_parts_init (CacheKeyParts   *parts,
                      SluicePipeline  *pipeline,
                      GError         **error)
{
  JsonObject *call = sluice_pipeline_get_stage_config (pipeline, "call");
  JsonNode *target = call != NULL ? json_object_get_member (call, "target") : NULL;
  JsonNode *targets = call != NULL ? json_object_get_member (call, "targets") : NULL;
  JsonNode *schema = sluice_pipeline_get_output_schema (pipeline);
  g_autofree char *contents = NULL;
  gsize length = 0;

  if (call == NULL)
    return sluice_config_invalid (error, "there is no call stage whose answers to cache: "
                                         "put the cache stage between assemble and call");
  parts->targets = json_node_alloc ();
  json_node_take_array (json_node_init (parts->targets, JSON_NODE_ARRAY), json_array_new ());
  parts->parameters = json_node_alloc ();
  json_node_take_array (json_node_init (parts->parameters, JSON_NODE_ARRAY), json_array_new ());
  parts->deterministic = TRUE;
  if (target != NULL && JSON_NODE_HOLDS_OBJECT (target))
    add_target (parts, json_node_get_object (target));
  for (guint i = 0; targets != NULL && JSON_NODE_HOLDS_ARRAY (targets) &&
                    i < json_array_get_length (json_node_get_array (targets)); i++)
    {
      JsonNode *item = json_array_get_element (json_node_get_array (targets), i);

      if (JSON_NODE_HOLDS_OBJECT (item))
        add_target (parts, json_node_get_object (item));
    }
  if (json_array_get_length (json_node_get_array (parts->targets)) == 0)
    parts->deterministic = FALSE;
  {
    /* The call stage's own members that shape the request. */
    JsonObject *shape = json_object_new ();
    JsonNode *structured = json_object_get_member (call, "structured_output");

    if (structured != NULL)
      json_object_set_member (shape, "structured_output", json_node_copy (structured));
    json_array_add_object_element (json_node_get_array (parts->parameters), shape);
  }
  parts->output_schema = schema != NULL ? json_node_copy (schema) : NULL;

  if (!g_file_get_contents (sluice_pipeline_get_path (pipeline), &contents, &length, error))
    return FALSE;
  parts->pipeline_version = g_compute_checksum_for_data (G_CHECKSUM_SHA256, (const guchar *) contents, length);
  return TRUE;
}

void
cache_key_parts_clear (CacheKeyParts *parts)
{
  g_clear_pointer (&parts->targets, json_node_unref);
  g_clear_pointer (&parts->parameters, json_node_unref);
  g_clear_pointer (&parts->output_schema, json_node_unref);
  g_clear_pointer (&parts->pipeline_version, g_free);
}

char *
cache_key_compute (CacheKeyParts *parts,
                   JsonArray     *messages)
{
  g_autoptr(JsonObject) request = json_object_new ();
  g_autoptr(JsonNode) node = NULL;
  g_autofree char *text = NULL;

  json_object_set_array_member (request, "messages", json_array_ref (messages));
  json_object_set_member (request, "targets", json_node_ref (parts->targets));
  json_object_set_member (request, "parameters", json_node_ref (parts->parameters));
  if (parts->output_schema != NULL)
    json_object_set_member (request, "output_schema", json_node_ref (parts->output_schema));
  else
    json_object_set_null_member (request, "output_schema");
  json_object_set_string_member (request, "pipeline", parts->pipeline_version);
  node = json_node_init_object (json_node_alloc (), request);
  text = cache_canonical_json (node);
  return g_compute_checksum_for_string (G_CHECKSUM_SHA256, text, -1);
}
