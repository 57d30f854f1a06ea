/* sluice-catalog.c — model prices and limits.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#define G_LOG_DOMAIN "sluice-catalog"

#include "sluice-private.h"

struct _SluiceCatalog
{
  GObject     parent_instance;

  JsonNode   *root;
  JsonObject *providers;   /* provider → { model → entry } */
};

G_DEFINE_FINAL_TYPE (SluiceCatalog, sluice_catalog, G_TYPE_OBJECT)

static void
sluice_catalog_finalize (GObject *object)
{
  SluiceCatalog *self = SLUICE_CATALOG (object);

  g_clear_pointer (&self->root, json_node_unref);

  G_OBJECT_CLASS (sluice_catalog_parent_class)->finalize (object);
}

static void
sluice_catalog_class_init (SluiceCatalogClass *klass)
{
  G_OBJECT_CLASS (klass)->finalize = sluice_catalog_finalize;
}

static void
sluice_catalog_init (SluiceCatalog *self)
{
}

SluiceCatalog *
sluice_catalog_new_from_file (const char  *path,
                              GError     **error)
{
  g_autoptr(SluiceCatalog) self = NULL;
  g_autofree char *contents = NULL;
  JsonNode *providers;

  if (!g_file_get_contents (path, &contents, NULL, error))
    return NULL;

  self = g_object_new (SLUICE_TYPE_CATALOG, NULL);
  self->root = sluice_json_from_string (contents, -1, error);
  if (self->root == NULL)
    {
      g_prefix_error (error, "%s: ", path);
      return NULL;
    }
  if (!JSON_NODE_HOLDS_OBJECT (self->root) ||
      (providers = json_object_get_member (json_node_get_object (self->root), "providers")) == NULL ||
      !JSON_NODE_HOLDS_OBJECT (providers))
    {
      g_set_error (error, SLUICE_ERROR, SLUICE_ERROR_INVALID_CONFIG,
                   "%s: expected an object with a \"providers\" object", path);
      return NULL;
    }
  self->providers = json_node_get_object (providers);
  return g_steal_pointer (&self);
}

SluiceCatalog *
sluice_catalog_get_default (void)
{
  static SluiceCatalog *catalog;

  if (g_once_init_enter (&catalog))
    {
      const char *env = g_getenv ("SLUICE_CATALOG");
      g_autofree char *path = env != NULL && *env != '\0'
        ? g_strdup (env)
        : g_build_filename (_sluice_get_data_dir (), "models.json", NULL);
      g_autoptr(GError) error = NULL;
      SluiceCatalog *loaded = sluice_catalog_new_from_file (path, &error);

      if (loaded == NULL)
        {
          g_warning ("model catalog unavailable, costs will be recorded as unknown: %s",
                     error->message);
          loaded = g_object_new (SLUICE_TYPE_CATALOG, NULL);
        }
      g_once_init_leave (&catalog, loaded);
    }
  return catalog;
}

/* "gpt-4o-2024-08-06" → "gpt-4o"; "claude-3-5-sonnet-20241022" → "claude-3-5-sonnet". */
static char *
strip_snapshot_date (const char *model)
{
  gsize len = strlen (model);

  if (len > 11 && model[len - 11] == '-' && model[len - 6] == '-' && model[len - 3] == '-')
    return g_strndup (model, len - 11);
  if (len > 9 && model[len - 9] == '-')
    {
      for (gsize i = len - 8; i < len; i++)
        if (!g_ascii_isdigit (model[i]))
          return NULL;
      return g_strndup (model, len - 9);
    }
  return NULL;
}

JsonObject *
sluice_catalog_lookup (SluiceCatalog *self,
                       const char    *provider,
                       const char    *model)
{
  JsonNode *models;
  JsonNode *entry;
  g_autofree char *base = NULL;

  g_return_val_if_fail (SLUICE_IS_CATALOG (self), NULL);

  if (self->providers == NULL || provider == NULL || model == NULL)
    return NULL;
  models = json_object_get_member (self->providers, provider);
  if (models == NULL || !JSON_NODE_HOLDS_OBJECT (models))
    return NULL;

  entry = json_object_get_member (json_node_get_object (models), model);
  if (entry == NULL && (base = strip_snapshot_date (model)) != NULL)
    entry = json_object_get_member (json_node_get_object (models), base);
  return entry != NULL && JSON_NODE_HOLDS_OBJECT (entry) ? json_node_get_object (entry) : NULL;
}

static gboolean
get_price (JsonObject *entry,
           const char *member,
           gdouble    *out)
{
  JsonNode *node = json_object_get_member (entry, member);

  if (node == NULL || !JSON_NODE_HOLDS_VALUE (node))
    return FALSE;
  *out = json_node_get_double (node);
  return *out >= 0;
}

gdouble
sluice_catalog_compute_cost (SluiceCatalog *self,
                             const char    *provider,
                             const char    *model,
                             gint64         prompt_tokens,
                             gint64         completion_tokens,
                             gint64         cached_tokens)
{
  JsonObject *entry;
  gdouble input, output, cached;

  g_return_val_if_fail (SLUICE_IS_CATALOG (self), -1);

  if (prompt_tokens < 0 || completion_tokens < 0)
    return -1;
  entry = sluice_catalog_lookup (self, provider, model);
  if (entry == NULL || !get_price (entry, "input_per_mtok", &input) ||
      !get_price (entry, "output_per_mtok", &output))
    return -1;
  if (!get_price (entry, "cached_input_per_mtok", &cached))
    cached = input;

  cached_tokens = CLAMP (cached_tokens, 0, prompt_tokens);
  return ((prompt_tokens - cached_tokens) * input +
          cached_tokens * cached +
          completion_tokens * output) / 1e6;
}

/* "ft:gpt-4o-mini-2024-07-18:org::id" and "openai/gpt-4o" (a router's
 * name) are the model after the colon or slash. */
static const char *
base_model_name (const char *model)
{
  const char *slash = strrchr (model, '/');

  if (slash != NULL)
    model = slash + 1;
  if (g_str_has_prefix (model, "ft:"))
    model += 3;
  return model;
}

const char *
sluice_catalog_get_tokenizer (SluiceCatalog *self,
                              const char    *provider,
                              const char    *model)
{
  JsonObject *entry;
  JsonNode *table;
  JsonObjectIter iter;
  const char *encoding, *best = NULL;
  JsonNode *prefixes;
  gsize best_len = 0;

  g_return_val_if_fail (SLUICE_IS_CATALOG (self), NULL);

  if (model == NULL)
    return NULL;
  entry = sluice_catalog_lookup (self, provider, model);
  if (entry != NULL && (encoding = sluice_json_get_string (entry, "tokenizer")) != NULL)
    return encoding;

  if (self->root == NULL ||
      (table = json_object_get_member (json_node_get_object (self->root), "tokenizers")) == NULL ||
      !JSON_NODE_HOLDS_OBJECT (table))
    return NULL;
  model = base_model_name (model);
  json_object_iter_init (&iter, json_node_get_object (table));
  while (json_object_iter_next (&iter, &encoding, &prefixes))
    {
      JsonArray *list = JSON_NODE_HOLDS_ARRAY (prefixes) ? json_node_get_array (prefixes) : NULL;

      for (guint i = 0; list != NULL && i < json_array_get_length (list); i++)
        {
          const char *prefix = json_array_get_string_element (list, i);
          gsize len = prefix != NULL ? strlen (prefix) : 0;

          /* A whole name or a name and a suffix after '-': "o1" is not "o1x". */
          if (len > best_len && strncmp (model, prefix, len) == 0 &&
              (model[len] == '\0' || model[len] == '-'))
            {
              best = encoding;
              best_len = len;
            }
        }
    }
  return best;
}
