/* sluice-format-stage.c — renders the validated output as the user asks
 * to see it.
 *
 * template (or template_file) is a Mustache template (libsluice's
 * renderer, engine/sluice-mustache.c, as assemble uses) rendered against
 * the output, with escape none, html or csv (one RFC 4180 field per
 * {{name}}); fields is a projection: the output's named members only, in
 * the output's shape, a missing one null so that every line has the same
 * keys. The result goes to sluice_context_set_formatted(): `sluice run`
 * prints it and `sluice batch` adds it to each line, while the output
 * itself, which sinks and the ledger record, is left as it is.
 *
 * `sluice check` puts the stage after parse and validate (it formats the
 * output they checked) and warns about a name the output schema does not
 * declare (the x-sluice-* annotations of format.schema.json).
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "sluice-format-stage.h"
#include "sluice-mustache-private.h"

struct _SluiceFormatStage
{
  GObject         parent_instance;

  SluiceMustache *template;   /* NULL for a projection */
  GStrv           fields;     /* NULL for a template */
};

static void sluice_format_stage_iface_init (SluiceStageInterface *iface);

G_DEFINE_FINAL_TYPE_WITH_CODE (SluiceFormatStage, sluice_format_stage, G_TYPE_OBJECT,
                               G_IMPLEMENT_INTERFACE (SLUICE_TYPE_STAGE, sluice_format_stage_iface_init))

static SluiceMustacheFlags
flags_from_config (JsonObject *config)
{
  const char *escape = sluice_json_get_string (config, "escape");
  SluiceMustacheFlags flags = SLUICE_MUSTACHE_FLAGS_NONE;

  /* An optional field of the output renders empty unless asked otherwise. */
  if (json_object_has_member (config, "strict") && json_object_get_boolean_member (config, "strict"))
    flags |= SLUICE_MUSTACHE_STRICT;
  if (g_strcmp0 (escape, "html") == 0)
    flags |= SLUICE_MUSTACHE_ESCAPE_HTML;
  else if (g_strcmp0 (escape, "csv") == 0)
    flags |= SLUICE_MUSTACHE_ESCAPE_CSV;
  return flags;
}

static gboolean
compile_template (SluiceFormatStage  *self,
                  SluicePipeline     *pipeline,
                  JsonObject         *config,
                  GError            **error)
{
  g_autoptr(SluiceMustacheLibrary) lib = sluice_mustache_library_new (flags_from_config (config));
  g_autoptr(GPtrArray) problems = g_ptr_array_new_with_free_func ((GDestroyNotify) sluice_mustache_problem_free);
  const char *source = sluice_json_get_string (config, "template");
  const char *file_name = sluice_json_get_string (config, "template_file");
  g_autofree char *path = NULL;
  g_autofree char *contents = NULL;

  sluice_mustache_library_set_data_name (lib, "output");
  if (json_object_has_member (config, "max_bytes"))
    sluice_mustache_library_set_max_output (lib, (gsize) MAX (sluice_json_get_int (config, "max_bytes", 0), 1));
  if (!sluice_mustache_library_load_partials (lib, pipeline, json_object_get_member (config, "partials"), error))
    return FALSE;

  if (source == NULL)
    {
      g_autoptr(GError) local = NULL;

      path = sluice_pipeline_resolve_path (pipeline, file_name);
      if (!g_file_get_contents (path, &contents, NULL, &local))
        return sluice_config_invalid (error, "template_file %s: %s", file_name, local->message);
      source = contents;
    }

  self->template = sluice_mustache_compile (lib, source, problems);
  if (self->template == NULL)
    {
      g_autofree char *message = NULL;

      /* A template file's problems are told at their place in it. */
      for (guint i = 0; path != NULL && i < problems->len; i++)
        {
          SluiceMustacheProblem *problem = g_ptr_array_index (problems, i);

          if (problem->file == NULL)
            problem->file = g_strdup (path);
        }
      message = sluice_mustache_problems_to_message (problems, "template");
      return sluice_config_invalid (error, "%s", message);
    }
  return TRUE;
}

static gboolean
sluice_format_stage_configure (SluiceStage     *stage,
                               SluicePipeline  *pipeline,
                               JsonObject      *config,
                               GError         **error)
{
  SluiceFormatStage *self = SLUICE_FORMAT_STAGE (stage);
  JsonNode *fields = json_object_get_member (config, "fields");
  guint n_ways = json_object_has_member (config, "template") + json_object_has_member (config, "template_file") +
                 (fields != NULL);

  /* The configuration schema says the same; a stage configured by hand
   * (tests, Python) is not checked against it. */
  if (n_ways != 1)
    return sluice_config_invalid (error, "give exactly one of template, template_file or fields");

  if (fields == NULL)
    return compile_template (self, pipeline, config, error);

  if (!JSON_NODE_HOLDS_ARRAY (fields) || json_array_get_length (json_node_get_array (fields)) == 0)
    return sluice_config_invalid (error, "fields: expected a list of dotted names of the output");
  {
    static const char * const template_only[] = { "escape", "partials", "strict", "max_bytes" };

    for (guint i = 0; i < G_N_ELEMENTS (template_only); i++)
      if (json_object_has_member (config, template_only[i]))
        return sluice_config_invalid (error, "%s applies to a template: fields are printed as JSON",
                                      template_only[i]);
  }
  self->fields = g_new0 (char *, json_array_get_length (json_node_get_array (fields)) + 1);
  for (guint i = 0; i < json_array_get_length (json_node_get_array (fields)); i++)
    {
      const char *name = json_array_get_string_element (json_node_get_array (fields), i);

      if (name == NULL || *name == '\0')
        return sluice_config_invalid (error, "fields[%u]: expected a dotted name of the output", i);
      self->fields[i] = g_strdup (name);
    }
  return TRUE;
}

/* Sets value at the dotted name in projection, making the objects on the
 * way; a name inside a member already taken whole (fields "a" and "a.b")
 * is already there. */
static void
project_one (JsonObject *projection,
             const char *dotted,
             JsonNode   *value)
{
  g_auto(GStrv) parts = g_strsplit (dotted, ".", -1);
  JsonObject *object = projection;
  guint last = g_strv_length (parts) - 1;

  for (guint i = 0; i < last; i++)
    {
      JsonNode *member = json_object_get_member (object, parts[i]);

      if (member == NULL)
        {
          json_object_set_object_member (object, parts[i], json_object_new ());
          member = json_object_get_member (object, parts[i]);
        }
      if (!JSON_NODE_HOLDS_OBJECT (member))
        return;
      object = json_node_get_object (member);
    }
  if (!json_object_has_member (object, parts[last]))
    json_object_set_member (object, parts[last],
                            value != NULL ? json_node_copy (value) : json_node_new (JSON_NODE_NULL));
}

static JsonNode *
project (GStrv     fields,
         JsonNode *output)
{
  g_autoptr(JsonObject) projection = json_object_new ();

  for (guint i = 0; fields[i] != NULL; i++)
    project_one (projection, fields[i], sluice_json_lookup_path (output, fields[i]));
  return json_node_init_object (json_node_alloc (), projection);
}

static SluiceVerdict
sluice_format_stage_process (SluiceStage    *stage,
                             SluiceContext  *context,
                             GError        **error)
{
  SluiceFormatStage *self = SLUICE_FORMAT_STAGE (stage);
  JsonNode *output = sluice_context_get_output (context);
  g_autoptr(JsonNode) formatted = NULL;
  g_autoptr(GString) text = NULL;
  g_autoptr(GError) local = NULL;
  g_autoptr(JsonNode) null_output = NULL;

  /* A dry run's output is the request it would have sent, not an answer. */
  if (sluice_context_get_dry_run (context))
    return SLUICE_VERDICT_CONTINUE;
  if (output == NULL)
    output = null_output = json_node_new (JSON_NODE_NULL);

  if (self->fields != NULL)
    {
      formatted = project (self->fields, output);
      sluice_context_set_formatted (context, formatted);
      return SLUICE_VERDICT_CONTINUE;
    }

  text = g_string_sized_new (256);
  if (!sluice_mustache_render (self->template, output, text, &local))
    {
      g_set_error (error, local->domain, local->code, "the format template %s", local->message);
      return SLUICE_VERDICT_FAIL;
    }
  formatted = json_node_init_string (json_node_alloc (), text->str);
  sluice_context_set_formatted (context, formatted);
  return SLUICE_VERDICT_CONTINUE;
}

static void
sluice_format_stage_finalize (GObject *object)
{
  SluiceFormatStage *self = SLUICE_FORMAT_STAGE (object);

  g_clear_pointer (&self->template, sluice_mustache_unref);
  g_clear_pointer (&self->fields, g_strfreev);

  G_OBJECT_CLASS (sluice_format_stage_parent_class)->finalize (object);
}

static void
sluice_format_stage_class_init (SluiceFormatStageClass *klass)
{
  G_OBJECT_CLASS (klass)->finalize = sluice_format_stage_finalize;
}

static void
sluice_format_stage_init (SluiceFormatStage *self)
{
}

static void
sluice_format_stage_iface_init (SluiceStageInterface *iface)
{
  iface->configure = sluice_format_stage_configure;
  iface->process = sluice_format_stage_process;
}
