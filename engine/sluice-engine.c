/* sluice-engine.c — plugin discovery and instantiation through libpeas.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#define G_LOG_DOMAIN "sluice-engine"

#define _GNU_SOURCE
#include <dlfcn.h>
#include <libpeas/peas.h>

#include "sluice-http-provider-private.h"
#include "sluice-private.h"
#include "sluice-schema-private.h"

struct _SluiceEngine
{
  GObject     parent_instance;

  PeasEngine  *peas;
  GHashTable  *schemas;     /* "kind/name" → JsonNode (or NULL: none declared) */
  guint        max_conns;   /* 0: the default */
  guint        max_conns_per_host;
  SluiceCacheMode cache_mode;
  SoupSession *call_session;
  SoupSession *stream_session;
};

G_DEFINE_FINAL_TYPE (SluiceEngine, sluice_engine, G_TYPE_OBJECT)

static const struct {
  const char *kind;
  GType     (*get_type) (void);
} kinds[] = {
  { "stage", sluice_stage_get_type },
  { "provider", sluice_provider_get_type },
  { "policy", sluice_fallback_policy_get_type },
  { "sink", sluice_cost_sink_get_type },
};

static const char * const kind_folders[] = { "stages", "providers", "policies", "sinks", NULL };

static GType
kind_to_gtype (const char *kind)
{
  for (guint i = 0; i < G_N_ELEMENTS (kinds); i++)
    if (g_str_equal (kinds[i].kind, kind))
      return kinds[i].get_type ();
  return G_TYPE_INVALID;
}

gboolean
_sluice_is_uninstalled (void)
{
  static gsize result;

  if (g_once_init_enter (&result))
    {
      Dl_info info = { 0 };
      gsize value = 1;

      if (dladdr ((void *) sluice_engine_new, &info) != 0 && info.dli_fname != NULL &&
          g_str_has_prefix (info.dli_fname, SLUICE_BUILD_ROOT "/"))
        value = 2;
      g_once_init_leave (&result, value);
    }
  return result == 2;
}

const char *
_sluice_get_data_dir (void)
{
  return _sluice_is_uninstalled () ? SLUICE_SOURCE_ROOT "/data" : SLUICE_DATADIR;
}

static void
sluice_engine_finalize (GObject *object)
{
  SluiceEngine *self = SLUICE_ENGINE (object);

  g_clear_object (&self->peas);
  g_clear_pointer (&self->schemas, g_hash_table_unref);
  g_clear_object (&self->call_session);
  g_clear_object (&self->stream_session);

  G_OBJECT_CLASS (sluice_engine_parent_class)->finalize (object);
}

static void
sluice_engine_class_init (SluiceEngineClass *klass)
{
  G_OBJECT_CLASS (klass)->finalize = sluice_engine_finalize;
}

static void
sluice_engine_init (SluiceEngine *self)
{
  self->peas = peas_engine_new ();
  self->schemas = g_hash_table_new_full (g_str_hash, g_str_equal, g_free,
                                         (GDestroyNotify) json_node_unref);
}

SluiceEngine *
sluice_engine_new (void)
{
  SluiceEngine *self = g_object_new (SLUICE_TYPE_ENGINE, NULL);
  const char *env = g_getenv ("SLUICE_PLUGIN_PATH");

  if (env != NULL)
    {
      g_auto(GStrv) dirs = g_strsplit (env, G_SEARCHPATH_SEPARATOR_S, -1);

      for (guint i = 0; dirs[i] != NULL; i++)
        if (*dirs[i] != '\0')
          sluice_engine_add_search_path (self, dirs[i]);
    }

  if (_sluice_is_uninstalled ())
    sluice_engine_add_search_path (self, SLUICE_BUILD_ROOT "/plugins");
  else
    sluice_engine_add_search_path (self, SLUICE_PLUGINDIR);

  return self;
}

static gboolean
dir_has_plugin_file (const char *path)
{
  g_autoptr(GDir) dir = g_dir_open (path, 0, NULL);
  const char *name;

  if (dir == NULL)
    return FALSE;
  while ((name = g_dir_read_name (dir)) != NULL)
    if (g_str_has_suffix (name, ".plugin"))
      return TRUE;
  return FALSE;
}

static void
add_plugin_folders (SluiceEngine *self,
                    const char   *parent)
{
  g_autoptr(GDir) dir = g_dir_open (parent, 0, NULL);
  const char *name;

  if (dir == NULL)
    return;
  while ((name = g_dir_read_name (dir)) != NULL)
    {
      g_autofree char *child = g_build_filename (parent, name, NULL);

      if (g_file_test (child, G_FILE_TEST_IS_DIR) && dir_has_plugin_file (child))
        peas_engine_add_search_path (self->peas, child, child);
    }
}

void
sluice_engine_add_search_path (SluiceEngine *self,
                               const char   *path)
{
  g_return_if_fail (SLUICE_IS_ENGINE (self));
  g_return_if_fail (path != NULL);

  /* Accept a folder of plugin folders, a folder of <kind>/ folders of
   * them, or one plugin folder. */
  if (dir_has_plugin_file (path))
    peas_engine_add_search_path (self->peas, path, path);
  add_plugin_folders (self, path);
  for (guint i = 0; kind_folders[i] != NULL; i++)
    {
      g_autofree char *sub = g_build_filename (path, kind_folders[i], NULL);
      add_plugin_folders (self, sub);
    }
  peas_engine_rescan_plugins (self->peas);
}

/* A plugin's module is named "<kind>-<name>" so that names of different
 * kinds cannot collide inside libpeas. */
static PeasPluginInfo *
find_plugin (SluiceEngine *self,
             const char   *kind,
             const char   *name)
{
  g_autofree char *module = g_strdup_printf ("%s-%s", kind, name);
  PeasPluginInfo *info = peas_engine_get_plugin_info (self->peas, module);
  const char *declared;

  if (info == NULL)
    return NULL;
  declared = peas_plugin_info_get_external_data (info, "Sluice-Kind");
  return g_strcmp0 (declared, kind) == 0 ? info : NULL;
}

static gint
compare_names (gconstpointer a,
               gconstpointer b)
{
  return g_strcmp0 (*(const char * const *) a, *(const char * const *) b);
}

char **
sluice_engine_list_plugins (SluiceEngine *self,
                            const char   *kind)
{
  g_autoptr(GPtrArray) names = g_ptr_array_new ();
  g_autofree char *prefix = g_strdup_printf ("%s-", kind);

  g_return_val_if_fail (SLUICE_IS_ENGINE (self), NULL);

  for (const GList *l = peas_engine_get_plugin_list (self->peas); l != NULL; l = l->next)
    {
      PeasPluginInfo *info = l->data;
      const char *module = peas_plugin_info_get_module_name (info);

      if (g_strcmp0 (peas_plugin_info_get_external_data (info, "Sluice-Kind"), kind) == 0 &&
          g_str_has_prefix (module, prefix))
        g_ptr_array_add (names, g_strdup (module + strlen (prefix)));
    }
  g_ptr_array_sort (names, compare_names);
  g_ptr_array_add (names, NULL);
  return (char **) g_ptr_array_free (g_steal_pointer (&names), FALSE);
}

gboolean
sluice_engine_has_plugin (SluiceEngine *self,
                          const char   *kind,
                          const char   *name)
{
  g_return_val_if_fail (SLUICE_IS_ENGINE (self), FALSE);
  return find_plugin (self, kind, name) != NULL;
}

/* Plugins that the design names but this release does not ship: asking
 * for one says so, rather than calling it unknown. */
static const struct {
  const char *kind;
  const char *name;
} planned[] = {
  { "stage", "cache" }, { "stage", "format" },
  { "sink", "postgres" },
};

static void
set_unknown_plugin_error (SluiceEngine  *self,
                          const char    *kind,
                          const char    *name,
                          GError       **error)
{
  g_auto(GStrv) known = sluice_engine_list_plugins (self, kind);
  g_autofree char *list = g_strjoinv (", ", known);
  const char *suggestion = sluice_suggest (name, (const char * const *) known);

  for (guint i = 0; i < G_N_ELEMENTS (planned); i++)
    if (g_str_equal (planned[i].kind, kind) && g_str_equal (planned[i].name, name))
      {
        g_set_error (error, SLUICE_ERROR, SLUICE_ERROR_NOT_IMPLEMENTED,
                     "%s '%s' is planned but not part of this release (available: %s)",
                     kind, name, *list != '\0' ? list : "none");
        return;
      }

  if (suggestion != NULL)
    g_set_error (error, SLUICE_ERROR, SLUICE_ERROR_UNKNOWN_PLUGIN,
                 "unknown %s '%s'; did you mean '%s'? (known: %s)",
                 kind, name, suggestion, list);
  else
    g_set_error (error, SLUICE_ERROR, SLUICE_ERROR_UNKNOWN_PLUGIN,
                 "unknown %s '%s' (known: %s)", kind, name,
                 *list != '\0' ? list : "none");
}

JsonNode *
sluice_engine_get_config_schema (SluiceEngine  *self,
                                 const char    *kind,
                                 const char    *name,
                                 GError       **error)
{
  g_autofree char *key = NULL;
  g_autofree char *path = NULL;
  g_autofree char *contents = NULL;
  PeasPluginInfo *info;
  const char *file;
  JsonNode *schema;
  gpointer cached;

  g_return_val_if_fail (SLUICE_IS_ENGINE (self), NULL);

  info = find_plugin (self, kind, name);
  if (info == NULL)
    {
      set_unknown_plugin_error (self, kind, name, error);
      return NULL;
    }

  key = g_strdup_printf ("%s/%s", kind, name);
  if (g_hash_table_lookup_extended (self->schemas, key, NULL, &cached))
    return cached;

  file = peas_plugin_info_get_external_data (info, "Sluice-Config-Schema");
  if (file == NULL)
    {
      g_hash_table_insert (self->schemas, g_steal_pointer (&key), NULL);
      return NULL;
    }

  path = g_build_filename (peas_plugin_info_get_module_dir (info), file, NULL);
  if (!g_file_get_contents (path, &contents, NULL, error))
    return NULL;
  schema = sluice_json_from_string (contents, -1, error);
  if (schema == NULL)
    {
      g_prefix_error (error, "%s: ", path);
      return NULL;
    }
  g_hash_table_insert (self->schemas, g_steal_pointer (&key), schema);
  return schema;
}

gboolean
sluice_engine_check_config (SluiceEngine  *self,
                            const char    *kind,
                            const char    *name,
                            JsonNode      *config,
                            GError       **error)
{
  g_autoptr(GPtrArray) violations = NULL;
  g_autoptr(SluiceSchema) schema = NULL;
  g_autoptr(JsonNode) empty = NULL;
  g_autoptr(GString) message = NULL;
  g_autoptr(GError) local_error = NULL;
  JsonNode *declared;

  g_return_val_if_fail (SLUICE_IS_ENGINE (self), FALSE);

  declared = sluice_engine_get_config_schema (self, kind, name, &local_error);
  if (local_error != NULL)
    {
      g_propagate_error (error, g_steal_pointer (&local_error));
      return FALSE;
    }
  if (declared == NULL)
    return TRUE;

  schema = sluice_schema_new (declared, error);
  if (schema == NULL)
    return FALSE;

  if (config == NULL || JSON_NODE_HOLDS_NULL (config))
    {
      config = empty = json_node_new (JSON_NODE_OBJECT);
      json_node_take_object (empty, json_object_new ());
    }

  violations = g_ptr_array_new_with_free_func ((GDestroyNotify) sluice_violation_free);
  if (sluice_schema_validate (schema, config, violations, 10))
    return TRUE;

  message = g_string_new (NULL);
  g_string_printf (message, "%s '%s': ", kind, name);
  for (guint i = 0; i < violations->len; i++)
    {
      SluiceViolation *v = g_ptr_array_index (violations, i);

      g_string_append_printf (message, "%s%s: %s", i > 0 ? "; " : "",
                              *v->instance_path != '\0' ? v->instance_path : "/", v->message);
    }
  g_set_error_literal (error, SLUICE_ERROR, SLUICE_ERROR_INVALID_CONFIG, message->str);
  return FALSE;
}

GObject *
sluice_engine_create (SluiceEngine  *self,
                      const char    *kind,
                      const char    *name,
                      GError       **error)
{
  PeasPluginInfo *info;
  GType iface;
  GError *local_error = NULL;
  PeasExtension *extension;

  g_return_val_if_fail (SLUICE_IS_ENGINE (self), NULL);
  g_return_val_if_fail (kind != NULL && name != NULL, NULL);

  iface = kind_to_gtype (kind);
  if (iface == G_TYPE_INVALID)
    {
      g_set_error (error, SLUICE_ERROR, SLUICE_ERROR_UNKNOWN_PLUGIN,
                   "unknown plugin kind '%s'", kind);
      return NULL;
    }

  info = find_plugin (self, kind, name);
  if (info == NULL)
    {
      set_unknown_plugin_error (self, kind, name, error);
      return NULL;
    }

  if (!peas_plugin_info_is_loaded (info) && !peas_engine_load_plugin (self->peas, info))
    {
      if (!peas_plugin_info_is_available (info, &local_error) && local_error != NULL)
        {
          g_set_error (error, SLUICE_ERROR, SLUICE_ERROR_UNKNOWN_PLUGIN,
                       "%s '%s' could not be loaded: %s", kind, name, local_error->message);
          g_clear_error (&local_error);
        }
      else
        g_set_error (error, SLUICE_ERROR, SLUICE_ERROR_UNKNOWN_PLUGIN,
                     "%s '%s' could not be loaded", kind, name);
      return NULL;
    }

  if (!peas_engine_provides_extension (self->peas, info, iface))
    {
      g_set_error (error, SLUICE_ERROR, SLUICE_ERROR_UNKNOWN_PLUGIN,
                   "%s '%s' does not provide a %s", kind, name, g_type_name (iface));
      return NULL;
    }

  extension = peas_engine_create_extension (self->peas, info, iface, NULL);
  if (extension == NULL)
    {
      g_set_error (error, SLUICE_ERROR, SLUICE_ERROR_UNKNOWN_PLUGIN,
                   "%s '%s' could not create its extension", kind, name);
      return NULL;
    }
  /* HTTP providers send on this engine's sessions. */
  if (SLUICE_IS_HTTP_PROVIDER (extension))
    sluice_http_provider_set_engine (SLUICE_HTTP_PROVIDER (extension), self);
  return G_OBJECT (extension);
}

void
sluice_engine_set_http_limits (SluiceEngine *self,
                               guint         max_conns,
                               guint         max_conns_per_host)
{
  g_return_if_fail (SLUICE_IS_ENGINE (self));

  if (self->max_conns == max_conns && self->max_conns_per_host == max_conns_per_host)
    return;
  self->max_conns = max_conns;
  self->max_conns_per_host = max_conns_per_host;
  /* libsoup's limits are fixed at construction: new sessions next time. */
  g_clear_object (&self->call_session);
  g_clear_object (&self->stream_session);
}

SoupSession *
sluice_engine_get_http_session (SluiceEngine *self,
                                gboolean      for_streams)
{
  SoupSession **session;

  g_return_val_if_fail (SLUICE_IS_ENGINE (self), NULL);

  session = for_streams ? &self->stream_session : &self->call_session;
  if (*session == NULL)
    *session = sluice_http_session_new (self->max_conns, self->max_conns_per_host);
  return *session;
}

void
sluice_engine_set_cache_mode (SluiceEngine    *self,
                              SluiceCacheMode  mode)
{
  g_return_if_fail (SLUICE_IS_ENGINE (self));
  self->cache_mode = mode;
}

SluiceCacheMode
sluice_engine_get_cache_mode (SluiceEngine *self)
{
  g_return_val_if_fail (SLUICE_IS_ENGINE (self), SLUICE_CACHE_MODE_USE);
  return self->cache_mode;
}
