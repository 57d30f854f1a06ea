/* sluice-engine.h — finds and instantiates plugins.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#pragma once

#if !defined (SLUICE_INSIDE) && !defined (SLUICE_COMPILATION)
# error "Only <sluice.h> can be included directly."
#endif

#include <glib-object.h>
#include <json-glib/json-glib.h>
#include <libsoup/soup.h>

G_BEGIN_DECLS

#define SLUICE_TYPE_ENGINE (sluice_engine_get_type ())
G_DECLARE_FINAL_TYPE (SluiceEngine, sluice_engine, SLUICE, ENGINE, GObject)

/**
 * SluiceEngine:
 *
 * Knows every plugin on the search path and creates instances of them.
 * Plugins are found, in this order, in each folder of
 * `$SLUICE_PLUGIN_PATH`, then in the build tree when the library runs
 * uninstalled, else in the install prefix. A plugin is a folder
 * `<kind>/<name>/` holding `<name>.plugin` (with `X-Sluice-Kind`) and its
 * module. Kinds are `stage`, `provider`, `policy` and `sink`.
 */

/**
 * sluice_engine_new:
 *
 * Returns: (transfer full): a new engine that has scanned its search path
 */
SluiceEngine *sluice_engine_new                  (void);

/**
 * sluice_engine_add_search_path:
 * @self: a #SluiceEngine
 * @path: a folder of plugin folders, or of `<kind>/` folders of them
 */
void          sluice_engine_add_search_path      (SluiceEngine  *self,
                                                  const char    *path);
/**
 * sluice_engine_list_plugins:
 * @self: a #SluiceEngine
 * @kind: `stage`, `provider`, `policy` or `sink`
 *
 * Returns: (transfer full) (array zero-terminated=1): sorted plugin names
 */
char        **sluice_engine_list_plugins         (SluiceEngine  *self,
                                                  const char    *kind);
gboolean      sluice_engine_has_plugin           (SluiceEngine  *self,
                                                  const char    *kind,
                                                  const char    *name);
/**
 * sluice_engine_get_config_schema:
 * @self: a #SluiceEngine
 * @kind: the plugin kind
 * @name: the plugin name
 * @error: return location for a #GError
 *
 * Reads the JSON Schema a plugin declares for its configuration
 * (`X-Sluice-Config-Schema`) without loading its code.
 *
 * Returns: (transfer none) (nullable): the schema, or %NULL with @error
 *   when the plugin is unknown or declares a broken schema; %NULL without
 *   error when it declares none
 */
JsonNode     *sluice_engine_get_config_schema    (SluiceEngine  *self,
                                                  const char    *kind,
                                                  const char    *name,
                                                  GError       **error);
/**
 * sluice_engine_check_config:
 * @self: a #SluiceEngine
 * @kind: the plugin kind
 * @name: the plugin name
 * @config: (nullable): a configuration block (%NULL: an empty one)
 * @error: a %SLUICE_ERROR_INVALID_CONFIG error listing the violations
 *
 * Checks a configuration block against the schema the plugin declares,
 * for plugins that configure other plugins (the `log` stage its sinks).
 *
 * Returns: %TRUE when @config is valid (or the plugin declares no schema)
 */
gboolean      sluice_engine_check_config         (SluiceEngine  *self,
                                                  const char    *kind,
                                                  const char    *name,
                                                  JsonNode      *config,
                                                  GError       **error);

/**
 * sluice_engine_create:
 * @self: a #SluiceEngine
 * @kind: the plugin kind
 * @name: the plugin name
 * @error: return location for a #GError
 *
 * Loads the plugin if needed and creates an instance. An unknown name is a
 * %SLUICE_ERROR_UNKNOWN_PLUGIN error listing the known plugins of @kind.
 *
 * Returns: (transfer full) (nullable): a new #SluiceStage, #SluiceProvider,
 *   #SluiceFallbackPolicy or #SluiceCostSink
 */
GObject      *sluice_engine_create               (SluiceEngine  *self,
                                                  const char    *kind,
                                                  const char    *name,
                                                  GError       **error);

/**
 * sluice_engine_set_http_limits:
 * @self: a #SluiceEngine
 * @max_conns: connections in all; 0 for the default (1024 or `$SLUICE_MAX_CONNS`)
 * @max_conns_per_host: connections to one host; 0 for the default
 *
 * The connection limits of the engine's two HTTP sessions (calls, and
 * streams apart so that long streams cannot take the connections short
 * calls need). A pipeline file sets them with its `http:` block. Sessions
 * made before keep serving the requests they carry; new requests use the
 * new limits.
 */
void          sluice_engine_set_http_limits      (SluiceEngine  *self,
                                                  guint          max_conns,
                                                  guint          max_conns_per_host);

/**
 * SluiceCacheMode:
 * @SLUICE_CACHE_MODE_USE: look answers up and store new ones (the default)
 * @SLUICE_CACHE_MODE_OFF: neither look up nor store (`--no-cache`)
 * @SLUICE_CACHE_MODE_REFRESH: skip the lookup, store the fresh answer
 *   (`--refresh-cache`)
 *
 * What the cache stages of the engine's pipelines do.
 */
typedef enum {
  SLUICE_CACHE_MODE_USE,
  SLUICE_CACHE_MODE_OFF,
  SLUICE_CACHE_MODE_REFRESH,
} SluiceCacheMode;

/**
 * sluice_engine_set_cache_mode:
 * @self: a #SluiceEngine
 * @mode: what cache stages do from now on
 */
void          sluice_engine_set_cache_mode       (SluiceEngine   *self,
                                                  SluiceCacheMode mode);
/**
 * sluice_engine_get_cache_mode:
 * @self: a #SluiceEngine
 *
 * Returns: what cache stages do
 */
SluiceCacheMode sluice_engine_get_cache_mode     (SluiceEngine   *self);

/**
 * sluice_engine_get_http_session:
 * @self: a #SluiceEngine
 * @for_streams: %TRUE for the session of streamed answers
 *
 * Returns: (transfer none): the engine's session, made on first use
 */
SoupSession  *sluice_engine_get_http_session     (SluiceEngine  *self,
                                                  gboolean       for_streams);

G_END_DECLS
