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

/* Members whose value must be a non-negative number (prices per million
 * tokens) or a positive whole number (token limits). */
static const char * const price_members[] = {
  "input_per_mtok", "output_per_mtok", "cached_input_per_mtok", "cache_write_per_mtok", NULL
};
static const char * const limit_members[] = { "context_window", "max_output", NULL };

static gboolean
check_entry (const char  *path,
             const char  *provider,
             const char  *model,
             JsonNode    *node,
             GError     **error)
{
  JsonObject *entry;

  if (!JSON_NODE_HOLDS_OBJECT (node))
    {
      g_set_error (error, SLUICE_ERROR, SLUICE_ERROR_INVALID_CONFIG,
                   "%s: providers.%s.%s: expected an object", path, provider, model);
      return FALSE;
    }
  entry = json_node_get_object (node);
  {
    JsonObjectIter iter;
    const char *name;
    JsonNode *value;

    /* A misspelt price would leave the old one in force, unseen. */
    json_object_iter_init (&iter, entry);
    while (json_object_iter_next (&iter, &name, &value))
      if (name[0] != '$' && !g_strv_contains (price_members, name) && !g_strv_contains (limit_members, name) &&
          !g_str_equal (name, "tokenizer") && !g_str_equal (name, "checked"))
        {
          g_set_error (error, SLUICE_ERROR, SLUICE_ERROR_INVALID_CONFIG,
                       "%s: providers.%s.%s.%s: unknown member (known: %s, %s, %s, %s, %s, %s, tokenizer, checked)",
                       path, provider, model, name, price_members[0], price_members[1], price_members[2],
                       price_members[3], limit_members[0], limit_members[1]);
          return FALSE;
        }
  }
  for (guint i = 0; price_members[i] != NULL; i++)
    {
      JsonNode *value = json_object_get_member (entry, price_members[i]);

      if (value != NULL &&
          (!JSON_NODE_HOLDS_VALUE (value) ||
           (json_node_get_value_type (value) != G_TYPE_INT64 &&
            json_node_get_value_type (value) != G_TYPE_DOUBLE) ||
           json_node_get_double (value) < 0))
        {
          g_set_error (error, SLUICE_ERROR, SLUICE_ERROR_INVALID_CONFIG,
                       "%s: providers.%s.%s.%s: expected a price in USD per million tokens (a number >= 0)",
                       path, provider, model, price_members[i]);
          return FALSE;
        }
    }
  for (guint i = 0; limit_members[i] != NULL; i++)
    {
      JsonNode *value = json_object_get_member (entry, limit_members[i]);

      if (value != NULL &&
          (!JSON_NODE_HOLDS_VALUE (value) || json_node_get_value_type (value) != G_TYPE_INT64 ||
           json_node_get_int (value) <= 0))
        {
          g_set_error (error, SLUICE_ERROR, SLUICE_ERROR_INVALID_CONFIG,
                       "%s: providers.%s.%s.%s: expected a number of tokens (a whole number > 0)",
                       path, provider, model, limit_members[i]);
          return FALSE;
        }
    }
  /* null: the provider publishes no tokenizer */
  if (json_object_has_member (entry, "tokenizer") && !json_object_get_null_member (entry, "tokenizer") &&
      sluice_json_get_string (entry, "tokenizer") == NULL)
    {
      g_set_error (error, SLUICE_ERROR, SLUICE_ERROR_INVALID_CONFIG,
                   "%s: providers.%s.%s.tokenizer: expected the name of an encoding", path, provider, model);
      return FALSE;
    }
  return TRUE;
}

/* Every provider is an object of models, every model an object whose
 * prices and limits are numbers: a typo in an override must not turn into
 * a price of zero. */
static gboolean
check_catalog (const char  *path,
               JsonNode    *root,
               GError     **error)
{
  JsonNode *providers;
  JsonObjectIter provider_iter;
  const char *provider;
  JsonNode *models;

  if (!JSON_NODE_HOLDS_OBJECT (root) ||
      (providers = json_object_get_member (json_node_get_object (root), "providers")) == NULL ||
      !JSON_NODE_HOLDS_OBJECT (providers))
    {
      g_set_error (error, SLUICE_ERROR, SLUICE_ERROR_INVALID_CONFIG,
                   "%s: expected an object with a \"providers\" object", path);
      return FALSE;
    }
  json_object_iter_init (&provider_iter, json_node_get_object (providers));
  while (json_object_iter_next (&provider_iter, &provider, &models))
    {
      JsonObjectIter model_iter;
      const char *model;
      JsonNode *entry;

      if (provider[0] == '$')
        continue;   /* "$comment" */
      if (!JSON_NODE_HOLDS_OBJECT (models))
        {
          g_set_error (error, SLUICE_ERROR, SLUICE_ERROR_INVALID_CONFIG,
                       "%s: providers.%s: expected an object of models", path, provider);
          return FALSE;
        }
      json_object_iter_init (&model_iter, json_node_get_object (models));
      while (json_object_iter_next (&model_iter, &model, &entry))
        if (model[0] != '$' && !check_entry (path, provider, model, entry, error))
          return FALSE;
    }
  return TRUE;
}

static JsonNode *
read_catalog_file (const char  *path,
                   GError     **error)
{
  g_autofree char *contents = NULL;
  g_autoptr(JsonNode) root = NULL;
  g_autoptr(GError) local_error = NULL;

  if (!g_file_get_contents (path, &contents, NULL, &local_error))
    {
      g_set_error (error, SLUICE_ERROR, SLUICE_ERROR_INVALID_CONFIG, "%s", local_error->message);
      return NULL;
    }
  root = sluice_json_from_string (contents, -1, &local_error);
  if (root == NULL)
    {
      g_set_error (error, SLUICE_ERROR, SLUICE_ERROR_INVALID_CONFIG, "%s: %s", path, local_error->message);
      return NULL;
    }
  return g_steal_pointer (&root);
}

/* An object member merges into an object member of the same name, member
 * by member; anything else replaces it; null removes it. */
static void
merge_object (JsonObject *into,
              JsonObject *from)
{
  JsonObjectIter iter;
  const char *name;
  JsonNode *value;

  json_object_iter_init (&iter, from);
  while (json_object_iter_next (&iter, &name, &value))
    {
      JsonNode *existing = json_object_get_member (into, name);

      if (JSON_NODE_HOLDS_NULL (value))
        json_object_remove_member (into, name);
      else if (existing != NULL && JSON_NODE_HOLDS_OBJECT (existing) && JSON_NODE_HOLDS_OBJECT (value))
        merge_object (json_node_get_object (existing), json_node_get_object (value));
      else
        json_object_set_member (into, name, json_node_copy (value));
    }
}

SluiceCatalog *
sluice_catalog_new_from_files (const char  *path,
                               const char  *override_path,
                               GError     **error)
{
  g_autoptr(SluiceCatalog) self = NULL;
  g_autoptr(JsonNode) root = NULL;

  g_return_val_if_fail (path != NULL, NULL);

  root = read_catalog_file (path, error);
  if (root == NULL || !check_catalog (path, root, error))
    return NULL;
  if (override_path != NULL)
    {
      g_autoptr(JsonNode) override = read_catalog_file (override_path, error);

      if (override == NULL)
        return NULL;
      if (!JSON_NODE_HOLDS_OBJECT (override))
        {
          g_set_error (error, SLUICE_ERROR, SLUICE_ERROR_INVALID_CONFIG,
                       "%s: expected an object (a catalog override, merged over %s)", override_path, path);
          return NULL;
        }
      merge_object (json_node_get_object (root), json_node_get_object (override));
      /* Checked again as merged, with the override named: its members
       * are the ones that can be wrong now. */
      if (!check_catalog (override_path, root, error))
        return NULL;
    }

  self = g_object_new (SLUICE_TYPE_CATALOG, NULL);
  self->root = g_steal_pointer (&root);
  self->providers = json_object_get_object_member (json_node_get_object (self->root), "providers");
  return g_steal_pointer (&self);
}

SluiceCatalog *
sluice_catalog_new_from_file (const char  *path,
                              GError     **error)
{
  return sluice_catalog_new_from_files (path, NULL, error);
}

/* Why the default catalog could not be loaded, kept for the pipelines. */
static GError *default_error;

SluiceCatalog *
sluice_catalog_get_default (void)
{
  static SluiceCatalog *catalog;

  if (g_once_init_enter (&catalog))
    {
      const char *env = g_getenv ("SLUICE_CATALOG");
      const char *override = g_getenv ("SLUICE_CATALOG_OVERRIDE");
      g_autofree char *path = env != NULL && *env != '\0'
        ? g_strdup (env)
        : g_build_filename (_sluice_get_data_dir (), "models.json", NULL);
      g_autoptr(GError) error = NULL;
      SluiceCatalog *loaded = sluice_catalog_new_from_files (path, override != NULL && *override != '\0'
                                                                   ? override : NULL, &error);

      if (loaded == NULL)
        {
          /* Pipelines refuse to load with this error (see
           * _sluice_catalog_get_default_error()); a library user that
           * only asks for prices gets unknown costs, never zeros. */
          g_debug ("model catalog unavailable, costs will be recorded as unknown: %s",
                   error->message);
          default_error = g_steal_pointer (&error);
          loaded = g_object_new (SLUICE_TYPE_CATALOG, NULL);
        }
      g_once_init_leave (&catalog, loaded);
    }
  return catalog;
}

const GError *
_sluice_catalog_get_default_error (void)
{
  sluice_catalog_get_default ();
  return default_error;
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

/* A kind of token the usage has none of needs no price. */
static gboolean
rate_for (JsonObject *entry,
          const char *member,
          gint64      tokens,
          gdouble    *out)
{
  *out = 0;
  return tokens == 0 || get_price (entry, member, out);
}

gdouble
sluice_catalog_compute_cost_full (SluiceCatalog *self,
                                  const char    *provider,
                                  const char    *model,
                                  gint64         prompt_tokens,
                                  gint64         completion_tokens,
                                  gint64         cached_tokens,
                                  gint64         cache_write_tokens)
{
  JsonObject *entry;
  gdouble input, output, cached, write;
  gint64 uncached;

  g_return_val_if_fail (SLUICE_IS_CATALOG (self), -1);

  if (prompt_tokens < 0 || completion_tokens < 0)
    return -1;
  cached_tokens = CLAMP (cached_tokens, 0, prompt_tokens);
  cache_write_tokens = CLAMP (cache_write_tokens, 0, prompt_tokens - cached_tokens);
  uncached = prompt_tokens - cached_tokens - cache_write_tokens;

  entry = sluice_catalog_lookup (self, provider, model);
  if (entry == NULL ||
      !rate_for (entry, "input_per_mtok", uncached, &input) ||
      !rate_for (entry, "output_per_mtok", completion_tokens, &output) ||
      !rate_for (entry, "cached_input_per_mtok", cached_tokens, &cached) ||
      !rate_for (entry, "cache_write_per_mtok", cache_write_tokens, &write))
    return -1;   /* a price that is not known is not zero */

  return (uncached * input + cached_tokens * cached +
          cache_write_tokens * write + completion_tokens * output) / 1e6;
}

gdouble
sluice_catalog_compute_cost (SluiceCatalog *self,
                             const char    *provider,
                             const char    *model,
                             gint64         prompt_tokens,
                             gint64         completion_tokens,
                             gint64         cached_tokens)
{
  return sluice_catalog_compute_cost_full (self, provider, model, prompt_tokens,
                                           completion_tokens, cached_tokens, 0);
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
