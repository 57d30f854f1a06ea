/* sluice-pipeline.c — loading a pipeline file and running requests through it.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#define G_LOG_DOMAIN "sluice-pipeline"

#include "sluice-private.h"
#include "sluice-document-private.h"
#include "sluice-schema-private.h"
#include "sluice-mustache-private.h"

#include <string.h>

#define MAX_VIOLATIONS_REPORTED 20
#define DEFAULT_MAX_RERUNS 2

struct _SluicePipeline
{
  GObject       parent_instance;

  SluiceEngine *engine;
  char         *path;
  char         *base_dir;
  char         *name;
  JsonNode     *input_schema;
  JsonNode     *output_schema;
  SluiceSchema *input_validator;
  SluiceSchema *output_validator;
  JsonObject   *labels;
  GPtrArray    *secrets;      /* credentials from the environment, never shown */
  guint         max_reruns;
  GPtrArray    *stages;       /* SluiceStage* */
  GPtrArray    *stage_names;  /* char* */
  GPtrArray    *stage_configs; /* JsonObject* or NULL, as in the file */
};

G_DEFINE_FINAL_TYPE (SluicePipeline, sluice_pipeline, G_TYPE_OBJECT)

static void
stage_config_free (gpointer config)
{
  if (config != NULL)
    json_object_unref (config);
}

/* The shape of a pipeline file; each stage's block is then checked against
 * the schema its plugin declares. */
static const char pipeline_file_schema[] =
  "{"
  "  \"type\": \"object\","
  "  \"required\": [\"name\", \"stages\"],"
  "  \"additionalProperties\": false,"
  "  \"properties\": {"
  "    \"name\": {\"type\": \"string\", \"pattern\": \"^[A-Za-z0-9][A-Za-z0-9_.-]*$\"},"
  "    \"description\": {\"type\": \"string\"},"
  "    \"version\": {\"type\": [\"string\", \"integer\"]},"
  "    \"input\": {\"type\": [\"object\", \"boolean\"]},"
  "    \"output\": {\"type\": [\"object\", \"boolean\"]},"
  "    \"max_reruns\": {\"type\": \"integer\", \"minimum\": 0, \"maximum\": 10},"
  "    \"http\": {\"type\": \"object\", \"additionalProperties\": false,"
  "             \"properties\": {\"max_conns\": {\"type\": \"integer\", \"minimum\": 1, \"maximum\": 100000},"
  "                            \"max_conns_per_host\": {\"type\": \"integer\", \"minimum\": 1, \"maximum\": 100000}}},"
  "    \"labels\": {\"type\": \"object\", \"additionalProperties\": {\"type\": \"string\"}},"
  "    \"schemas\": {\"type\": \"object\", \"additionalProperties\": false,"
  "                \"properties\": {\"formats\": {\"enum\": [\"annotate\", \"assert\"]},"
  "                               \"registry\": {\"type\": \"object\", \"additionalProperties\": {\"type\": \"string\"}}}},"
  "    \"stages\": {"
  "      \"type\": \"array\", \"minItems\": 1,"
  "      \"items\": {\"type\": \"object\", \"minProperties\": 1, \"maxProperties\": 1,"
  "                \"additionalProperties\": {\"type\": [\"object\", \"null\"]}}"
  "    }"
  "  }"
  "}";

static void
sluice_pipeline_finalize (GObject *object)
{
  SluicePipeline *self = SLUICE_PIPELINE (object);

  g_clear_object (&self->engine);
  g_free (self->path);
  g_free (self->base_dir);
  g_free (self->name);
  g_clear_pointer (&self->secrets, g_ptr_array_unref);
  g_clear_pointer (&self->input_schema, json_node_unref);
  g_clear_pointer (&self->output_schema, json_node_unref);
  g_clear_pointer (&self->input_validator, sluice_schema_unref);
  g_clear_pointer (&self->output_validator, sluice_schema_unref);
  g_clear_pointer (&self->labels, json_object_unref);
  g_clear_pointer (&self->stages, g_ptr_array_unref);
  g_clear_pointer (&self->stage_names, g_ptr_array_unref);
  g_clear_pointer (&self->stage_configs, g_ptr_array_unref);

  G_OBJECT_CLASS (sluice_pipeline_parent_class)->finalize (object);
}

enum { EVENT, N_SIGNALS };
static guint signals[N_SIGNALS];

static void
sluice_pipeline_class_init (SluicePipelineClass *klass)
{
  G_OBJECT_CLASS (klass)->finalize = sluice_pipeline_finalize;

  /**
   * SluicePipeline::event:
   * @pipeline: the pipeline
   * @record: (transfer none): the `event` record (see
   *   sluice_pipeline_emit_event())
   *
   * Something happened that is not one request's attempt: the log stage
   * hands it to the pipeline's sinks.
   */
  signals[EVENT] = g_signal_new ("event", G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST,
                                 0, NULL, NULL, NULL, G_TYPE_NONE, 1,
                                 JSON_TYPE_OBJECT | G_SIGNAL_TYPE_STATIC_SCOPE);
}

void
sluice_pipeline_emit_event (SluicePipeline *self,
                            const char     *event,
                            const char     *target,
                            SluiceContext  *context,
                            JsonObject     *detail)
{
  g_autoptr(JsonObject) record = json_object_new ();
  g_autofree char *now = sluice_now_iso8601 ();

  g_return_if_fail (SLUICE_IS_PIPELINE (self));
  g_return_if_fail (event != NULL);
  g_return_if_fail (context == NULL || SLUICE_IS_CONTEXT (context));

  json_object_set_string_member (record, "type", "event");
  json_object_set_string_member (record, "time", now);
  json_object_set_string_member (record, "event", event);
  if (target != NULL)
    json_object_set_string_member (record, "target", target);
  else
    json_object_set_null_member (record, "target");
  if (self->name != NULL)
    json_object_set_string_member (record, "pipeline", self->name);
  if (context != NULL)
    {
      json_object_set_string_member (record, "request_id", sluice_context_get_request_id (context));
      json_object_set_object_member (record, "labels", json_object_ref (sluice_context_get_labels (context)));
    }
  if (detail != NULL)
    json_object_set_object_member (record, "detail", json_object_ref (detail));
  g_signal_emit (self, signals[EVENT], 0, record);
}

static void
object_unref0 (gpointer object)
{
  if (object != NULL)
    g_object_unref (object);
}

static void
sluice_pipeline_init (SluicePipeline *self)
{
  self->stages = g_ptr_array_new_with_free_func ((GDestroyNotify) object_unref0);
  self->stage_names = g_ptr_array_new_with_free_func (g_free);
  self->stage_configs = g_ptr_array_new_with_free_func (stage_config_free);
  self->max_reruns = DEFAULT_MAX_RERUNS;
}

/* ---- loading ---------------------------------------------------------- */

typedef struct
{
  SluiceDocument       *doc;
  GPtrArray            *diagnostics;
  SluiceSchemaFlags     flags;      /* for `input` and `output` */
  SluiceSchemaRegistry *registry;   /* `schemas: {registry: ...}`, or NULL */
} Loader;

/* An error at what @pointer names in the pipeline file. */
#define report(loader, pointer, ...) \
  sluice_document_report ((loader)->doc, (loader)->diagnostics, (pointer), __VA_ARGS__)

/* "/stages/0/call/retry" → "stages[0].call.retry": how a person names it. */
static char *
pointer_to_path (const char *pointer)
{
  g_auto(GStrv) tokens = g_strsplit (pointer, "/", -1);
  GString *path = g_string_new (NULL);

  /* "" (the root) splits into no tokens at all */
  for (guint i = 1; tokens[0] != NULL && tokens[i] != NULL; i++)
    {
      g_autofree char *token = g_strdup (tokens[i]);
      g_autoptr(GString) unescaped = g_string_new (token);

      g_string_replace (unescaped, "~1", "/", 0);
      g_string_replace (unescaped, "~0", "~", 0);
      if (g_ascii_isdigit (unescaped->str[0]) && strspn (unescaped->str, "0123456789") == unescaped->len)
        g_string_append_printf (path, "[%s]", unescaped->str);
      else
        g_string_append_printf (path, "%s%s", path->len > 0 ? "." : "", unescaped->str);
    }
  return g_string_free (path, FALSE);
}

/* Validates instance against schema; each violation is reported at the
 * position of base_pointer + its instance path. */
static gboolean
check_against_schema (Loader       *loader,
                      SluiceSchema *schema,
                      JsonNode     *instance,
                      const char   *base_pointer)
{
  g_autoptr(GPtrArray) violations = g_ptr_array_new_with_free_func ((GDestroyNotify) sluice_violation_free);

  if (sluice_schema_validate (schema, instance, violations, MAX_VIOLATIONS_REPORTED))
    return TRUE;

  for (guint i = 0; i < violations->len; i++)
    {
      SluiceViolation *v = g_ptr_array_index (violations, i);
      g_autofree char *pointer = g_strconcat (base_pointer, v->instance_path, NULL);
      g_autofree char *path = pointer_to_path (pointer);

      if (*path != '\0')
        report (loader, pointer, "%s: %s", path, v->message);
      else
        report (loader, pointer, "%s", v->message);
    }
  return FALSE;
}

static SluiceSchema *
compile_schema (Loader            *loader,
                JsonNode          *schema,
                const char        *pointer,
                SluiceSchemaFlags  flags)
{
  g_autoptr(GError) error = NULL;
  SluiceSchema *compiled = sluice_schema_new_full (schema, NULL, SLUICE_SCHEMA_DRAFT_2020_12, flags,
                                                   loader->registry, &error);
  const char *colon;

  if (compiled != NULL)
    return compiled;

  /* The message starts with the schema location: "/properties/x/type: ..." */
  colon = strstr (error->message, ": ");
  if (error->message[0] == '/' && colon != NULL)
    {
      g_autofree char *location = g_strndup (error->message, colon - error->message);
      g_autofree char *where = g_strconcat (pointer, g_str_equal (location, "/") ? "" : location, NULL);

      report (loader, where, "invalid schema: %s", error->message);
    }
  else
    report (loader, pointer, "invalid schema: %s", error->message);
  return NULL;
}

/* Creates and configures the stage at index; its slot stays NULL when
 * that fails (the pipeline is then discarded). */
static void
configure_stage (SluicePipeline *self,
                 Loader         *loader,
                 guint           index,
                 JsonNode       *config_node,
                 const char     *pointer)
{
  const char *name = g_ptr_array_index (self->stage_names, index);
  g_autoptr(GError) error = NULL;
  g_autoptr(GObject) stage = NULL;
  g_autoptr(JsonObject) empty = NULL;
  JsonObject *config;

  stage = sluice_engine_create (self->engine, "stage", name, &error);
  if (stage == NULL)
    {
      report (loader, pointer, "%s", error->message);
      return;
    }

  if (config_node == NULL || !JSON_NODE_HOLDS_OBJECT (config_node))
    config = empty = json_object_new ();
  else
    config = json_node_get_object (config_node);

  if (!sluice_stage_configure (SLUICE_STAGE (stage), self, config, &error))
    {
      report (loader, pointer, "stage '%s': %s", name, error->message);
      return;
    }

  g_ptr_array_index (self->stages, index) = g_steal_pointer (&stage);
}

/* Checks a stage's block against the schema its plugin declares. */
static gboolean
check_stage_block (SluicePipeline *self,
                   Loader         *loader,
                   const char     *name,
                   JsonNode       *config,
                   const char     *pointer)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(SluiceSchema) compiled = NULL;
  g_autoptr(JsonNode) empty = NULL;
  const char *data_name = "input";          /* what the stage's templates render */
  JsonNode *data_schema = self->input_schema;
  JsonNode *schema;

  schema = sluice_engine_get_config_schema (self->engine, "stage", name, &error);
  if (!sluice_engine_has_plugin (self->engine, "stage", name))
    {
      report (loader, pointer, "%s", error->message);
      return FALSE;
    }
  if (error != NULL)
    {
      report (loader, pointer, "stage '%s' declares a broken configuration schema: %s",
              name, error->message);
      return FALSE;
    }
  if (schema == NULL)
    return TRUE;

  if (config == NULL || JSON_NODE_HOLDS_NULL (config))
    {
      config = empty = json_node_new (JSON_NODE_OBJECT);
      json_node_take_object (empty, json_object_new ());
    }
  /* A stage's templates render the input unless its schema says they
   * render the output (the format stage). */
  if (JSON_NODE_HOLDS_OBJECT (schema) &&
      g_strcmp0 (sluice_json_get_string (json_node_get_object (schema), "x-sluice-template-data"), "output") == 0)
    {
      data_name = "output";
      data_schema = self->output_schema;
    }
  compiled = compile_schema (loader, schema, pointer, SLUICE_SCHEMA_FLAGS_NONE);
  return compiled != NULL && check_against_schema (loader, compiled, config, pointer) &&
         _sluice_check_stage_templates (loader->doc, loader->diagnostics, self->base_dir,
                                        data_schema, data_name, schema, config, pointer);
}

/* `schemas: {formats: assert, registry: {"https://example.com/schemas/": schemas/}}`:
 * whether `format` asserts in `input` and `output`, and the local folders
 * that remote `$ref`s resolve to (relative to the pipeline file; nothing
 * is fetched over the network). */
static void
read_schema_options (Loader     *loader,
                     const char *base_dir,
                     JsonObject *options)
{
  JsonNode *registry = json_object_get_member (options, "registry");

  if (g_strcmp0 (sluice_json_get_string (options, "formats"), "assert") == 0)
    loader->flags |= SLUICE_SCHEMA_ASSERT_FORMAT;
  if (registry != NULL && JSON_NODE_HOLDS_OBJECT (registry))
    {
      JsonObjectIter iter;
      const char *prefix;
      JsonNode *folder;

      loader->registry = sluice_schema_registry_new ();
      json_object_iter_init (&iter, json_node_get_object (registry));
      while (json_object_iter_next (&iter, &prefix, &folder))
        {
          const char *name = JSON_NODE_HOLDS_VALUE (folder) ? json_node_get_string (folder) : NULL;
          g_autofree char *path = NULL;
          g_autofree char *pointer = NULL;

          if (name == NULL)
            continue;   /* the file schema reports it */
          path = g_path_is_absolute (name) ? g_strdup (name) : g_build_filename (base_dir, name, NULL);
          if (!g_file_test (path, G_FILE_TEST_IS_DIR))
            {
              pointer = sluice_json_pointer_append ("/schemas/registry", prefix);
              report (loader, pointer, "schema folder %s does not exist or is not a folder", name);
              continue;
            }
          sluice_schema_registry_add_folder (loader->registry, prefix, path);
        }
    }
}

/* Every stage's name and block are checked, loading no code, so that one
 * run reports every problem of the file. Stages are then configured only
 * when configure is set, and only those whose blocks are valid. Every
 * stage's name is known to the pipeline from the start, so a stage that
 * looks for another (validate for call) is not misled by its failure. */
static void
load_stages (SluicePipeline *self,
             Loader         *loader,
             JsonArray      *stages,
             gboolean        configure)
{
  guint n = json_array_get_length (stages);
  g_autofree gboolean *valid = g_new0 (gboolean, n);

  for (guint i = 0; i < n; i++)
    {
      JsonObject *item = json_array_get_object_element (stages, i);
      g_autoptr(GList) members = json_object_get_members (item);

      JsonNode *block = json_object_get_member (item, members->data);

      g_ptr_array_add (self->stage_names, g_strdup (members->data));
      g_ptr_array_add (self->stage_configs, block != NULL && JSON_NODE_HOLDS_OBJECT (block)
                                              ? json_object_ref (json_node_get_object (block)) : NULL);
      g_ptr_array_add (self->stages, NULL);
    }

  for (guint pass = 0; pass < 2; pass++)
    for (guint i = 0; i < n; i++)
      {
        const char *name = g_ptr_array_index (self->stage_names, i);
        JsonNode *config = json_object_get_member (json_array_get_object_element (stages, i), name);
        g_autofree char *index = g_strdup_printf ("%u", i);
        g_autofree char *item_pointer = sluice_json_pointer_append ("/stages", index);
        g_autofree char *pointer = sluice_json_pointer_append (item_pointer, name);

        if (pass == 0)
          valid[i] = check_stage_block (self, loader, name, config, pointer);
        else if (configure && valid[i])
          configure_stage (self, loader, i, config, pointer);
      }
}

/* The built-in stages' order: what works on the request before the call
 * is useless after it (the request is gone), and the counts and checks
 * of the prompt need the messages assemble builds. A stage of one's own
 * is not constrained. */
static void
check_stage_order (SluicePipeline *self,
                   Loader         *loader)
{
  static const char * const before_call[] = {
    "validate-input", "sanitize", "assemble", "token-count", "context-check", "rate-limit", "cache", NULL
  };
  static const char * const after_call[] = { "parse", "validate", "format", NULL };
  static const char * const after_assemble[] = { "token-count", "context-check", NULL };
  gint call = -1, assemble = -1, last_answer_check = -1;

  for (guint i = 0; i < self->stage_names->len; i++)
    {
      const char *name = g_ptr_array_index (self->stage_names, i);

      if (call < 0 && g_str_equal (name, "call"))
        call = (gint) i;
      if (g_str_equal (name, "assemble"))
        assemble = (gint) i;
      if (g_str_equal (name, "parse") || g_str_equal (name, "validate"))
        last_answer_check = (gint) i;
    }
  for (guint i = 0; i < self->stage_names->len; i++)
    {
      const char *name = g_ptr_array_index (self->stage_names, i);
      g_autofree char *index = g_strdup_printf ("%u", i);
      g_autofree char *item = sluice_json_pointer_append ("/stages", index);
      g_autofree char *pointer = sluice_json_pointer_append (item, name);

      if (call >= 0 && (gint) i > call && g_strv_contains (before_call, name))
        report (loader, pointer, "stage '%s' must come before the call stage (stage %d): it works on the "
                "request before it is sent", name, call + 1);
      else if (call > (gint) i && g_strv_contains (after_call, name))
        report (loader, pointer, "stage '%s' must come after the call stage (stage %d): it reads the answer "
                "the call gets", name, call + 1);
      else if (assemble > (gint) i && g_strv_contains (after_assemble, name))
        report (loader, pointer, "stage '%s' must come after the assemble stage (stage %d): it counts the "
                "messages assemble builds", name, assemble + 1);
      else if (last_answer_check > (gint) i && g_str_equal (name, "format"))
        report (loader, pointer, "stage 'format' must come after the %s stage (stage %d): it formats the "
                "parsed and validated output", (const char *) g_ptr_array_index (self->stage_names, last_answer_check),
                last_answer_check + 1);
      else if (g_str_equal (name, "cache") && assemble > (gint) i)
        report (loader, pointer, "stage 'cache' must come after the assemble stage (stage %d): its key "
                "covers the messages assemble builds", assemble + 1);
    }
}

/* The strings of the file that came from environment variables. */
static void
collect_env_strings (SluiceDocument *doc,
                     JsonNode       *node,
                     GPtrArray      *strings)
{
  if (JSON_NODE_HOLDS_OBJECT (node))
    {
      JsonObjectIter iter;
      const char *name;
      JsonNode *member;

      json_object_iter_init (&iter, json_node_get_object (node));
      while (json_object_iter_next (&iter, &name, &member))
        collect_env_strings (doc, member, strings);
    }
  else if (JSON_NODE_HOLDS_ARRAY (node))
    {
      JsonArray *array = json_node_get_array (node);

      for (guint i = 0; i < json_array_get_length (array); i++)
        collect_env_strings (doc, json_array_get_element (array, i), strings);
    }
  else if (json_node_get_value_type (node) == G_TYPE_STRING &&
           sluice_document_node_is_from_env (doc, node) &&
           strlen (json_node_get_string (node)) >= 3)
    g_ptr_array_add (strings, (gpointer) json_node_get_string (node));
}

/* Whether a member of this name holds a credential. */
static gboolean
is_secret_name (const char *name)
{
  static const char * const words[] = { "key", "token", "secret", "password", "authorization", NULL };
  g_autofree char *lower = g_ascii_strdown (name, -1);

  for (guint i = 0; words[i] != NULL; i++)
    if (strstr (lower, words[i]) != NULL)
      return TRUE;
  return FALSE;
}

/* The credentials of the file that came from the environment (api_key,
 * extra_headers, anything named like a key or token): a model that
 * echoes one must not carry it into an output, an error or the ledger.
 * Values under 8 characters are placeholders, not credentials. */
static void
collect_secrets (SluiceDocument *doc,
                 JsonNode       *node,
                 gboolean        secret_place,
                 GPtrArray      *secrets)
{
  if (JSON_NODE_HOLDS_OBJECT (node))
    {
      JsonObjectIter iter;
      const char *name;
      JsonNode *member;

      json_object_iter_init (&iter, json_node_get_object (node));
      while (json_object_iter_next (&iter, &name, &member))
        collect_secrets (doc, member, secret_place || is_secret_name (name) ||
                         g_str_equal (name, "extra_headers"), secrets);
    }
  else if (JSON_NODE_HOLDS_ARRAY (node))
    {
      JsonArray *array = json_node_get_array (node);

      for (guint i = 0; i < json_array_get_length (array); i++)
        collect_secrets (doc, json_array_get_element (array, i), secret_place, secrets);
    }
  else if (secret_place && json_node_get_value_type (node) == G_TYPE_STRING &&
           sluice_document_node_is_from_env (doc, node) && strlen (json_node_get_string (node)) >= 8)
    g_ptr_array_add (secrets, g_strdup (json_node_get_string (node)));
}

/* Values from the environment may be secrets (a key set where a provider
 * name belongs): no message about the file may quote one, whichever
 * plugin wrote it. */
static void
scrub_env_values (SluiceDocument *doc,
                  GPtrArray      *diagnostics,
                  guint           first)
{
  g_autoptr(GPtrArray) strings = g_ptr_array_new ();

  collect_env_strings (doc, sluice_document_get_root (doc), strings);
  for (guint i = first; i < diagnostics->len; i++)
    {
      SluiceDiagnostic *d = g_ptr_array_index (diagnostics, i);

      for (guint k = 0; k < strings->len; k++)
        if (strstr (d->message, g_ptr_array_index (strings, k)) != NULL)
          {
            g_autoptr(GString) message = g_string_new (d->message);

            g_string_replace (message, g_ptr_array_index (strings, k),
                              "[a value from the environment]", 0);
            g_free (d->message);
            d->message = g_string_free (g_steal_pointer (&message), FALSE);
          }
    }
}

/* True when every item of stages is an object with exactly one member. */
static gboolean
stages_are_shaped (JsonNode *node)
{
  JsonArray *stages;

  if (node == NULL || !JSON_NODE_HOLDS_ARRAY (node))
    return FALSE;
  stages = json_node_get_array (node);
  for (guint i = 0; i < json_array_get_length (stages); i++)
    {
      JsonNode *item = json_array_get_element (stages, i);

      if (!JSON_NODE_HOLDS_OBJECT (item) || json_object_get_size (json_node_get_object (item)) != 1)
        return FALSE;
    }
  return TRUE;
}

SluicePipeline *
_sluice_pipeline_load (SluiceEngine *engine,
                       const char   *path,
                       GPtrArray    *diagnostics)
{
  g_autoptr(SluicePipeline) self = NULL;
  g_autoptr(SluiceDocument) doc = NULL;
  g_autoptr(SluiceSchema) file_schema = NULL;
  g_autoptr(GError) error = NULL;
  guint errors_before = sluice_diagnostics_count_errors (diagnostics);
  guint first_diagnostic = diagnostics->len;
  gboolean document_ok;
  Loader loader;
  JsonNode *root;
  JsonObject *object;
  JsonNode *node;

  doc = sluice_document_load_file (path, diagnostics);
  if (doc == NULL)
    return NULL;
  /* Costs, windows and budgets all read the catalog: a broken one (a bad
   * $SLUICE_CATALOG_OVERRIDE, say) is an error, not a run without prices. */
  if (_sluice_catalog_get_default_error () != NULL)
    sluice_diagnostics_add (diagnostics, NULL, 0, 0, FALSE, "model catalog: %s",
                            _sluice_catalog_get_default_error ()->message);
  /* A file with syntax or environment errors is checked, not configured:
   * configuring would only repeat them (an unset key is also a bad key). */
  document_ok = sluice_diagnostics_count_errors (diagnostics) == errors_before;

  loader.doc = doc;
  loader.diagnostics = diagnostics;
  loader.flags = SLUICE_SCHEMA_FLAGS_NONE;
  loader.registry = NULL;

  root = sluice_document_get_root (doc);
  file_schema = sluice_schema_new_from_string (pipeline_file_schema, &error);
  g_assert_no_error (error);
  check_against_schema (&loader, file_schema, root, "");
  if (!JSON_NODE_HOLDS_OBJECT (root))
    return NULL;

  object = json_node_get_object (root);
  self = g_object_new (SLUICE_TYPE_PIPELINE, NULL);
  self->engine = g_object_ref (engine);
  self->path = g_strdup (path);
  self->base_dir = g_path_get_dirname (path);
  self->name = g_strdup (sluice_json_get_string (object, "name"));
  self->max_reruns = (guint) CLAMP (sluice_json_get_int (object, "max_reruns", DEFAULT_MAX_RERUNS), 0, 10);
  if ((node = json_object_get_member (object, "labels")) != NULL && JSON_NODE_HOLDS_OBJECT (node))
    self->labels = json_object_ref (json_node_get_object (node));
  if ((node = json_object_get_member (object, "schemas")) != NULL && JSON_NODE_HOLDS_OBJECT (node))
    read_schema_options (&loader, self->base_dir, json_node_get_object (node));

  if ((node = json_object_get_member (object, "input")) != NULL &&
      (JSON_NODE_HOLDS_OBJECT (node) || JSON_NODE_HOLDS_VALUE (node)))
    {
      self->input_schema = json_node_copy (node);
      self->input_validator = compile_schema (&loader, node, "/input", loader.flags);
    }
  if ((node = json_object_get_member (object, "output")) != NULL &&
      (JSON_NODE_HOLDS_OBJECT (node) || JSON_NODE_HOLDS_VALUE (node)))
    {
      self->output_schema = json_node_copy (node);
      self->output_validator = compile_schema (&loader, node, "/output", loader.flags);
    }

  /* Before any stage is configured: providers send on these sessions. */
  if (document_ok && (node = json_object_get_member (object, "http")) != NULL && JSON_NODE_HOLDS_OBJECT (node))
    sluice_engine_set_http_limits (engine,
                                   (guint) CLAMP (sluice_json_get_int (json_node_get_object (node), "max_conns", 0), 0, 100000),
                                   (guint) CLAMP (sluice_json_get_int (json_node_get_object (node), "max_conns_per_host", 0),
                                                  0, 100000));

  node = json_object_get_member (object, "stages");
  if (stages_are_shaped (node))
    {
      load_stages (self, &loader, json_node_get_array (node), document_ok);
      check_stage_order (self, &loader);
    }
  g_clear_pointer (&loader.registry, sluice_schema_registry_unref);

  self->secrets = g_ptr_array_new_with_free_func (g_free);
  collect_secrets (doc, root, FALSE, self->secrets);
  scrub_env_values (doc, diagnostics, first_diagnostic);
  if (sluice_diagnostics_count_errors (diagnostics) > errors_before)
    return NULL;
  return g_steal_pointer (&self);
}

char *
_sluice_diagnostics_join (GPtrArray *diagnostics)
{
  GString *text = g_string_new (NULL);

  for (guint i = 0; i < diagnostics->len; i++)
    {
      g_autofree char *line = sluice_diagnostic_to_string (g_ptr_array_index (diagnostics, i));

      if (text->len > 0)
        g_string_append_c (text, '\n');
      g_string_append (text, line);
    }
  return g_string_free (text, FALSE);
}

SluicePipeline *
sluice_pipeline_new_from_file (SluiceEngine  *engine,
                               const char    *path,
                               GError       **error)
{
  g_autoptr(GPtrArray) diagnostics = g_ptr_array_new_with_free_func ((GDestroyNotify) sluice_diagnostic_free);
  SluicePipeline *self;

  g_return_val_if_fail (SLUICE_IS_ENGINE (engine), NULL);
  g_return_val_if_fail (path != NULL, NULL);

  self = _sluice_pipeline_load (engine, path, diagnostics);
  if (self == NULL)
    {
      g_autofree char *message = _sluice_diagnostics_join (diagnostics);

      g_set_error_literal (error, SLUICE_ERROR, SLUICE_ERROR_INVALID_PIPELINE,
                           *message != '\0' ? message : "the pipeline could not be loaded");
    }
  return self;
}

/* ---- accessors ---------------------------------------------------------- */

const char *
sluice_pipeline_get_name (SluicePipeline *self)
{
  g_return_val_if_fail (SLUICE_IS_PIPELINE (self), NULL);
  return self->name;
}

const char *
sluice_pipeline_get_path (SluicePipeline *self)
{
  g_return_val_if_fail (SLUICE_IS_PIPELINE (self), NULL);
  return self->path;
}

char *
sluice_pipeline_resolve_path (SluicePipeline *self,
                              const char     *relative)
{
  g_return_val_if_fail (SLUICE_IS_PIPELINE (self), NULL);
  if (g_path_is_absolute (relative))
    return g_strdup (relative);
  return g_build_filename (self->base_dir, relative, NULL);
}

SluiceEngine *
sluice_pipeline_get_engine (SluicePipeline *self)
{
  g_return_val_if_fail (SLUICE_IS_PIPELINE (self), NULL);
  return self->engine;
}

JsonNode *
sluice_pipeline_get_input_schema (SluicePipeline *self)
{
  g_return_val_if_fail (SLUICE_IS_PIPELINE (self), NULL);
  return self->input_schema;
}

/* The object schema @schema, following a local "$ref" (a few hops). */
static JsonObject *
follow_local_ref (JsonNode   *root,
                  JsonObject *schema)
{
  for (guint hops = 0; schema != NULL && hops < 8; hops++)
    {
      const char *ref = sluice_json_get_string (schema, "$ref");
      JsonNode *target;

      if (ref == NULL || ref[0] != '#')
        return schema;
      target = sluice_json_pointer_resolve (root, ref + 1);
      schema = target != NULL && JSON_NODE_HOLDS_OBJECT (target) ? json_node_get_object (target) : NULL;
    }
  return schema;
}

gboolean
sluice_pipeline_check_input_path (SluicePipeline  *self,
                                  const char      *path,
                                  GError         **error)
{
  g_auto(GStrv) segments = NULL;
  JsonObject *schema;

  g_return_val_if_fail (SLUICE_IS_PIPELINE (self), FALSE);
  if (self->input_schema == NULL || !JSON_NODE_HOLDS_OBJECT (self->input_schema) || path == NULL)
    return TRUE;
  segments = g_strsplit (path[0] == '/' ? path + 1 : path, path[0] == '/' ? "/" : ".", -1);
  schema = json_node_get_object (self->input_schema);
  for (guint i = 0; segments[i] != NULL && schema != NULL; i++)
    {
      JsonNode *properties, *declared, *items, *additional;

      schema = follow_local_ref (self->input_schema, schema);
      if (schema == NULL)
        return TRUE;
      properties = json_object_get_member (schema, "properties");
      declared = properties != NULL && JSON_NODE_HOLDS_OBJECT (properties)
        ? json_object_get_member (json_node_get_object (properties), segments[i]) : NULL;
      items = json_object_get_member (schema, "items");
      additional = json_object_get_member (schema, "additionalProperties");
      if (declared != NULL)
        schema = JSON_NODE_HOLDS_OBJECT (declared) ? json_node_get_object (declared) : NULL;
      else if (items != NULL && JSON_NODE_HOLDS_OBJECT (items) && g_ascii_isdigit (segments[i][0]))
        schema = json_node_get_object (items);
      else if (additional != NULL && JSON_NODE_HOLDS_VALUE (additional) && !json_node_get_boolean (additional) &&
               !json_object_has_member (schema, "patternProperties"))
        {
          g_autoptr(GList) names = properties != NULL && JSON_NODE_HOLDS_OBJECT (properties)
            ? json_object_get_members (json_node_get_object (properties)) : NULL;
          g_autoptr(GString) known = g_string_new (NULL);

          for (GList *l = names; l != NULL; l = l->next)
            g_string_append_printf (known, "%s%s", known->len > 0 ? ", " : "", (const char *) l->data);
          g_set_error (error, SLUICE_ERROR, SLUICE_ERROR_INVALID_CONFIG,
                       "'%s' is not in the input schema (it declares %s)", path,
                       known->len > 0 ? known->str : "no properties there");
          return FALSE;
        }
      else
        return TRUE;   /* an open object: any name may come */
    }
  return TRUE;
}

JsonNode *
sluice_pipeline_get_output_schema (SluicePipeline *self)
{
  g_return_val_if_fail (SLUICE_IS_PIPELINE (self), NULL);
  return self->output_schema;
}

/* How many violations an input or output error lists. */
#define MAX_VIOLATIONS_IN_ERROR 5

/* NULL when @instance is valid (or there is no schema), else at most
 * @max violations (SluiceViolation). */
static GPtrArray *
find_violations (SluiceSchema *schema,
                 JsonNode     *instance,
                 guint         max)
{
  g_autoptr(GPtrArray) violations = NULL;

  if (schema == NULL)
    return NULL;
  violations = g_ptr_array_new_with_free_func ((GDestroyNotify) sluice_violation_free);
  if (sluice_schema_validate (schema, instance, violations, max))
    return NULL;
  return g_steal_pointer (&violations);
}

static gboolean
validate_with (SluiceSchema    *schema,
               JsonNode        *instance,
               SluiceErrorCode  code,
               const char      *what,
               GError         **error)
{
  /* one more than is shown, to know whether there are more */
  g_autoptr(GPtrArray) violations = find_violations (schema, instance, MAX_VIOLATIONS_IN_ERROR + 1);
  g_autoptr(GString) message = NULL;

  if (violations == NULL)
    return TRUE;

  message = g_string_new (NULL);
  g_string_append_printf (message, "%s does not match its schema: ", what);
  for (guint i = 0; i < violations->len && i < MAX_VIOLATIONS_IN_ERROR; i++)
    {
      SluiceViolation *v = g_ptr_array_index (violations, i);

      g_string_append_printf (message, "%s%s: %s", i > 0 ? "; " : "",
                              *v->instance_path != '\0' ? v->instance_path : "/", v->message);
    }
  if (violations->len > MAX_VIOLATIONS_IN_ERROR)
    g_string_append_printf (message, "; and more (the first %u are shown)", MAX_VIOLATIONS_IN_ERROR);
  g_set_error_literal (error, SLUICE_ERROR, code, message->str);
  return FALSE;
}

gboolean
sluice_pipeline_validate_input (SluicePipeline  *self,
                                JsonNode        *instance,
                                GError         **error)
{
  g_return_val_if_fail (SLUICE_IS_PIPELINE (self), FALSE);
  return validate_with (self->input_validator, instance, SLUICE_ERROR_INVALID_INPUT, "input", error);
}

gboolean
sluice_pipeline_validate_output (SluicePipeline  *self,
                                 JsonNode        *instance,
                                 GError         **error)
{
  g_return_val_if_fail (SLUICE_IS_PIPELINE (self), FALSE);
  return validate_with (self->output_validator, instance, SLUICE_ERROR_VALIDATION, "output", error);
}

static JsonArray *
violations_array (SluiceSchema *schema,
                  JsonNode     *instance,
                  guint         max_violations)
{
  g_autoptr(GPtrArray) violations = find_violations (schema, instance, MAX (max_violations, 1));
  JsonArray *array;

  if (violations == NULL)
    return NULL;
  array = json_array_sized_new (violations->len);
  for (guint i = 0; i < violations->len; i++)
    {
      SluiceViolation *v = g_ptr_array_index (violations, i);
      JsonObject *object = json_object_new ();

      json_object_set_string_member (object, "instance_path", v->instance_path);
      json_object_set_string_member (object, "keyword_path", v->keyword_path);
      json_object_set_string_member (object, "message", v->message);
      json_array_add_object_element (array, object);
    }
  return array;
}

JsonArray *
sluice_pipeline_check_output (SluicePipeline *self,
                              JsonNode       *instance,
                              guint           max_violations)
{
  g_return_val_if_fail (SLUICE_IS_PIPELINE (self), NULL);
  g_return_val_if_fail (instance != NULL, NULL);
  return violations_array (self->output_validator, instance, max_violations);
}

JsonArray *
sluice_pipeline_check_input (SluicePipeline *self,
                             JsonNode       *instance,
                             guint           max_violations)
{
  g_return_val_if_fail (SLUICE_IS_PIPELINE (self), NULL);
  g_return_val_if_fail (instance != NULL, NULL);
  return violations_array (self->input_validator, instance, max_violations);
}

guint
sluice_pipeline_get_max_reruns (SluicePipeline *self)
{
  g_return_val_if_fail (SLUICE_IS_PIPELINE (self), 0);
  return self->max_reruns;
}

guint
sluice_pipeline_get_n_stages (SluicePipeline *self)
{
  g_return_val_if_fail (SLUICE_IS_PIPELINE (self), 0);
  return self->stages->len;
}

SluiceStage *
sluice_pipeline_get_stage (SluicePipeline *self,
                           guint           index)
{
  g_return_val_if_fail (SLUICE_IS_PIPELINE (self), NULL);
  g_return_val_if_fail (index < self->stages->len, NULL);
  return g_ptr_array_index (self->stages, index);
}

const char *
sluice_pipeline_get_stage_name (SluicePipeline *self,
                                guint           index)
{
  g_return_val_if_fail (SLUICE_IS_PIPELINE (self), NULL);
  g_return_val_if_fail (index < self->stage_names->len, NULL);
  return g_ptr_array_index (self->stage_names, index);
}

static gint
find_earlier_stage (SluicePipeline *self,
                    const char     *name,
                    guint           before)
{
  for (guint i = 0; i <= before && i < self->stage_names->len; i++)
    if (g_strcmp0 (g_ptr_array_index (self->stage_names, i), name) == 0)
      return (gint) i;
  return -1;
}

JsonObject *
sluice_pipeline_get_stage_config (SluicePipeline *self,
                                  const char     *name)
{
  gint index;

  g_return_val_if_fail (SLUICE_IS_PIPELINE (self), NULL);
  index = find_earlier_stage (self, name, G_MAXUINT);
  return index >= 0 && (guint) index < self->stage_configs->len
    ? g_ptr_array_index (self->stage_configs, index) : NULL;
}

gboolean
sluice_pipeline_has_stage (SluicePipeline *self,
                           const char     *name)
{
  g_return_val_if_fail (SLUICE_IS_PIPELINE (self), FALSE);
  return find_earlier_stage (self, name, G_MAXUINT) >= 0;
}

/* ---- running ------------------------------------------------------------ */

typedef struct
{
  SluiceContext *context;
  guint          index;          /* next stage to process */
  gint           completing;     /* next stage to complete, going down */
  gint64         stage_started;
} Run;

static void
run_free (Run *run)
{
  g_clear_object (&run->context);
  g_free (run);
}

static void run_next_stage (GTask *task);
static void run_next_complete (GTask *task);

/* @node with every credential replaced by "[redacted]", or NULL when it
 * holds none. */
static JsonNode *
scrub_json (SluicePipeline *self,
            JsonNode       *node)
{
  g_autofree char *text = NULL;
  g_autoptr(GString) scrubbed = NULL;
  guint replaced = 0;

  if (node == NULL || self->secrets == NULL || self->secrets->len == 0)
    return NULL;
  text = sluice_json_to_string (node);
  scrubbed = g_string_new (text);
  for (guint i = 0; i < self->secrets->len; i++)
    replaced += g_string_replace (scrubbed, g_ptr_array_index (self->secrets, i), "[redacted]", 0);
  return replaced > 0 ? sluice_json_from_string (scrubbed->str, (gssize) scrubbed->len, NULL) : NULL;
}

/* Before the complete phase records anything: a credential the model
 * echoed back leaves the output, the error and its details. */
static void
scrub_result (SluicePipeline *self,
              SluiceContext  *context)
{
  const GError *error = sluice_context_get_error (context);
  g_autoptr(JsonNode) output = scrub_json (self, sluice_context_get_output (context));

  if (output != NULL)
    sluice_context_set_output (context, output);
  if (error != NULL && self->secrets != NULL && self->secrets->len > 0)
    {
      JsonObject *details = sluice_context_get_error_details (context);
      g_autoptr(JsonNode) details_node = details != NULL
        ? json_node_init_object (json_node_alloc (), details) : NULL;
      g_autoptr(JsonNode) scrubbed_details = scrub_json (self, details_node);
      g_autoptr(GString) message = g_string_new (error->message);
      guint replaced = 0;

      for (guint i = 0; i < self->secrets->len; i++)
        replaced += g_string_replace (message, g_ptr_array_index (self->secrets, i), "[redacted]", 0);
      if (replaced > 0 || scrubbed_details != NULL)
        {
          g_autoptr(GError) copy = g_error_new_literal (error->domain, error->code, message->str);
          g_autofree char *stage = g_strdup (sluice_context_get_error_stage (context));
          g_autoptr(JsonObject) kept = scrubbed_details != NULL && JSON_NODE_HOLDS_OBJECT (scrubbed_details)
            ? json_object_ref (json_node_get_object (scrubbed_details))
            : details != NULL ? json_object_ref (details) : NULL;

          sluice_context_set_error (context, copy, stage);
          if (kept != NULL)
            sluice_context_set_error_details (context, kept);
        }
    }
}

static void
begin_complete (GTask *task)
{
  SluicePipeline *self = g_task_get_source_object (task);
  Run *run = g_task_get_task_data (task);

  scrub_result (self, run->context);
  run->completing = (gint) self->stages->len - 1;
  run_next_complete (task);
}

static void
fail_request (GTask        *task,
              const GError *error,
              const char   *stage)
{
  Run *run = g_task_get_task_data (task);

  sluice_context_set_error (run->context, error, stage);
  _sluice_context_waste_answers (run->context);
  begin_complete (task);
}


/* Where a request answered early (a cache hit) goes on: past the last
 * stage that makes or checks an answer (call, parse, validate), to the
 * stages that shape the output it now has (format, custom ones placed
 * after validate). With no such stage after it, nothing more runs: the
 * number of stages is returned. */
static guint
first_stage_after_answer (SluicePipeline *self,
                          guint           from)
{
  guint next = self->stages->len;

  for (guint i = from + 1; i < self->stages->len; i++)
    {
      const char *name = g_ptr_array_index (self->stage_names, i);

      if (g_str_equal (name, "call") || g_str_equal (name, "parse") || g_str_equal (name, "validate"))
        next = i + 1;
    }
  return next;
}

/* Applies a stage's verdict; returns TRUE when the runner should go on
 * with run->index, FALSE when the request has moved to its complete phase. */
static gboolean
apply_verdict (GTask         *task,
               SluiceVerdict  verdict,
               const GError  *error)
{
  SluicePipeline *self = g_task_get_source_object (task);
  Run *run = g_task_get_task_data (task);
  const char *name = g_ptr_array_index (self->stage_names, run->index);
  gint target;

  sluice_context_add_timing (run->context, name, sluice_monotonic_ms () - run->stage_started);

  switch (verdict)
    {
    case SLUICE_VERDICT_CONTINUE:
      run->index++;
      return TRUE;

    case SLUICE_VERDICT_RESPOND:
      run->index = first_stage_after_answer (self, run->index);
      if (run->index < self->stages->len)
        return TRUE;
      begin_complete (task);
      return FALSE;

    case SLUICE_VERDICT_RERUN:
      target = find_earlier_stage (self, sluice_context_get_rerun_stage (run->context), run->index);
      if (target < 0)
        {
          g_autoptr(GError) rerun_error =
            g_error_new (SLUICE_ERROR, SLUICE_ERROR_FAILED,
                         "stage '%s' asked to re-run from '%s', which is not an earlier stage",
                         name, sluice_context_get_rerun_stage (run->context) ?: "(none)");
          fail_request (task, rerun_error, name);
          return FALSE;
        }
      if (sluice_context_get_n_reruns (run->context) >= self->max_reruns)
        {
          g_autoptr(GError) rerun_error =
            g_error_new (SLUICE_ERROR, SLUICE_ERROR_RERUN_LIMIT,
                         "stage '%s' asked to re-run from '%s' more than %u times",
                         name, sluice_context_get_rerun_stage (run->context), self->max_reruns);
          fail_request (task, rerun_error, name);
          return FALSE;
        }
      _sluice_context_count_rerun (run->context);
      run->index = (guint) target;
      return TRUE;

    case SLUICE_VERDICT_FAIL:
    default:
      fail_request (task, error, name);
      return FALSE;
    }
}

static void
on_stage_processed (GObject      *source,
                    GAsyncResult *result,
                    gpointer      user_data)
{
  GTask *task = user_data;
  g_autoptr(GError) error = NULL;
  SluiceVerdict verdict;

  verdict = sluice_stage_process_finish (SLUICE_STAGE (source), result, &error);
  if (apply_verdict (task, verdict, error))
    run_next_stage (task);
}

/* A pipeline without a parse stage answers with the model's text, rather
 * than with nothing. */
static void
use_answer_text_as_output (SluiceContext *context)
{
  SluiceResponse *response = sluice_context_get_response (context);
  g_autoptr(JsonNode) text = NULL;

  if (sluice_context_get_output (context) != NULL || response == NULL ||
      sluice_response_get_text (response) == NULL)
    return;
  text = json_node_init_string (json_node_alloc (), sluice_response_get_text (response));
  sluice_context_set_output (context, text);
}

/* Runs stages until one waits (async) or the request moves to complete.
 * Synchronous stages run inline, in this loop. */
static void
run_next_stage (GTask *task)
{
  SluicePipeline *self = g_task_get_source_object (task);
  Run *run = g_task_get_task_data (task);
  GCancellable *cancellable = g_task_get_cancellable (task);

  for (;;)
    {
      SluiceStage *stage;

      if (run->index >= self->stages->len)
        {
          use_answer_text_as_output (run->context);
          begin_complete (task);
          return;
        }

      if (g_cancellable_is_cancelled (cancellable))
        {
          g_autoptr(GError) error = g_error_new_literal (SLUICE_ERROR, SLUICE_ERROR_CANCELLED,
                                                         "the request was cancelled");
          fail_request (task, error, g_ptr_array_index (self->stage_names, run->index));
          return;
        }

      stage = g_ptr_array_index (self->stages, run->index);
      run->stage_started = sluice_monotonic_ms ();

      if (_sluice_stage_is_synchronous (stage))
        {
          g_autoptr(GError) error = NULL;
          SluiceVerdict verdict = sluice_stage_process (stage, run->context, &error);

          if (!apply_verdict (task, verdict, error))
            return;
          continue;
        }

      sluice_stage_process_async (stage, run->context, cancellable, on_stage_processed, task);
      return;
    }
}

static void
on_stage_completed (GObject      *source,
                    GAsyncResult *result,
                    gpointer      user_data)
{
  GTask *task = user_data;
  SluicePipeline *self = g_task_get_source_object (task);
  Run *run = g_task_get_task_data (task);
  g_autoptr(GError) error = NULL;

  if (!sluice_stage_complete_finish (SLUICE_STAGE (source), result, &error) &&
      sluice_context_get_error (run->context) == NULL)
    sluice_context_set_error (run->context, error,
                              g_ptr_array_index (self->stage_names, run->completing));

  run->completing--;
  run_next_complete (task);
}

static void
run_next_complete (GTask *task)
{
  SluicePipeline *self = g_task_get_source_object (task);
  Run *run = g_task_get_task_data (task);
  const GError *error;

  /* Stages whose complete() does nothing are skipped. */
  while (run->completing >= 0 &&
         !_sluice_stage_has_complete (g_ptr_array_index (self->stages, run->completing)))
    run->completing--;

  if (run->completing >= 0)
    {
      /* complete() must run even for a cancelled request: it is where the
       * outcome gets recorded. */
      sluice_stage_complete_async (g_ptr_array_index (self->stages, run->completing),
                                   run->context, NULL, on_stage_completed, task);
      return;
    }

  error = sluice_context_get_error (run->context);
  if (error != NULL)
    g_task_return_error (task, g_error_copy (error));
  else
    g_task_return_boolean (task, TRUE);
  g_object_unref (task);
}

void
sluice_pipeline_process_async (SluicePipeline      *self,
                               SluiceContext       *context,
                               GCancellable        *cancellable,
                               GAsyncReadyCallback  callback,
                               gpointer             user_data)
{
  GTask *task;
  Run *run;

  g_return_if_fail (SLUICE_IS_PIPELINE (self));
  g_return_if_fail (SLUICE_IS_CONTEXT (context));

  task = g_task_new (self, cancellable, callback, user_data);
  g_task_set_source_tag (task, sluice_pipeline_process_async);

  run = g_new0 (Run, 1);
  run->context = g_object_ref (context);
  g_task_set_task_data (task, run, (GDestroyNotify) run_free);

  if (sluice_context_get_label (context, "pipeline") == NULL)
    sluice_context_set_label (context, "pipeline", self->name);
  if (self->labels != NULL)
    {
      JsonObjectIter iter;
      const char *key;
      JsonNode *value;

      json_object_iter_init (&iter, self->labels);
      while (json_object_iter_next (&iter, &key, &value))
        if (sluice_context_get_label (context, key) == NULL)
          sluice_context_set_label (context, key, json_node_get_string (value));
    }

  if (sluice_context_get_error (context) != NULL)
    {
      begin_complete (task);
      return;
    }

  run_next_stage (task);
}

gboolean
sluice_pipeline_process_finish (SluicePipeline  *self,
                                GAsyncResult    *result,
                                GError         **error)
{
  g_return_val_if_fail (SLUICE_IS_PIPELINE (self), FALSE);
  g_return_val_if_fail (g_task_is_valid (result, self), FALSE);
  return g_task_propagate_boolean (G_TASK (result), error);
}

/* ---- flushing ------------------------------------------------------------ */

typedef struct
{
  guint   pending;
  GError *error;
} Flush;

static void
flush_free (Flush *flush)
{
  g_clear_error (&flush->error);
  g_free (flush);
}

static void
on_stage_flushed (GObject      *source,
                  GAsyncResult *result,
                  gpointer      user_data)
{
  GTask *task = user_data;
  Flush *flush = g_task_get_task_data (task);
  g_autoptr(GError) error = NULL;

  if (!sluice_stage_flush_finish (SLUICE_STAGE (source), result, &error) && flush->error == NULL)
    flush->error = g_steal_pointer (&error);

  if (--flush->pending == 0)
    {
      if (flush->error != NULL)
        g_task_return_error (task, g_steal_pointer (&flush->error));
      else
        g_task_return_boolean (task, TRUE);
      g_object_unref (task);
    }
}

void
sluice_pipeline_flush_async (SluicePipeline      *self,
                             GCancellable        *cancellable,
                             GAsyncReadyCallback  callback,
                             gpointer             user_data)
{
  GTask *task;
  Flush *flush;

  g_return_if_fail (SLUICE_IS_PIPELINE (self));

  task = g_task_new (self, cancellable, callback, user_data);
  g_task_set_source_tag (task, sluice_pipeline_flush_async);
  flush = g_new0 (Flush, 1);
  flush->pending = self->stages->len + 1;
  g_task_set_task_data (task, flush, (GDestroyNotify) flush_free);

  for (guint i = 0; i < self->stages->len; i++)
    sluice_stage_flush_async (g_ptr_array_index (self->stages, i), cancellable,
                              on_stage_flushed, task);

  /* The extra count keeps the task alive until every flush has started. */
  if (--flush->pending == 0)
    {
      g_task_return_boolean (task, TRUE);
      g_object_unref (task);
    }
}

gboolean
sluice_pipeline_flush_finish (SluicePipeline  *self,
                              GAsyncResult    *result,
                              GError         **error)
{
  g_return_val_if_fail (SLUICE_IS_PIPELINE (self), FALSE);
  return g_task_propagate_boolean (G_TASK (result), error);
}
