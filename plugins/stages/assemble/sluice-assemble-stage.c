/* sluice-assemble-stage.c — builds the chat messages from templates.
 *
 * Templates substitute {{name}} and {{obj.field}} (also {{{name}}}) with
 * values from the request's variables. Strings are inserted as they are;
 * other values as compact JSON. Templates are parsed once, at configure.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "sluice-assemble-stage.h"

#include <string.h>

typedef struct
{
  char     *text;       /* literal text, or the variable's dotted name */
  gboolean  is_var;
} Segment;

typedef struct
{
  char   *role;
  GArray *segments;     /* Segment */
} Template;

struct _SluiceAssembleStage
{
  GObject    parent_instance;

  GPtrArray *templates;  /* Template*, in sending order */
  gboolean   strict;
};

static void sluice_assemble_stage_iface_init (SluiceStageInterface *iface);

G_DEFINE_FINAL_TYPE_WITH_CODE (SluiceAssembleStage, sluice_assemble_stage, G_TYPE_OBJECT,
                               G_IMPLEMENT_INTERFACE (SLUICE_TYPE_STAGE, sluice_assemble_stage_iface_init))

static void
segment_clear (Segment *segment)
{
  g_free (segment->text);
}

static void
template_free (Template *template)
{
  g_free (template->role);
  g_array_unref (template->segments);
  g_free (template);
}

static gboolean
is_name_char (char c)
{
  return g_ascii_isalnum (c) || c == '_' || c == '-' || c == '.';
}

static Template *
template_parse (const char  *role,
                const char  *source,
                const char  *where,
                GError     **error)
{
  Template *template = g_new0 (Template, 1);
  const char *p = source;

  template->role = g_strdup (role);
  template->segments = g_array_new (FALSE, FALSE, sizeof (Segment));
  g_array_set_clear_func (template->segments, (GDestroyNotify) segment_clear);

  while (*p != '\0')
    {
      const char *open = strstr (p, "{{");
      const char *start, *end;
      gboolean triple;
      Segment segment;

      if (open == NULL)
        {
          segment = (Segment) { g_strdup (p), FALSE };
          g_array_append_val (template->segments, segment);
          break;
        }
      if (open > p)
        {
          segment = (Segment) { g_strndup (p, open - p), FALSE };
          g_array_append_val (template->segments, segment);
        }

      triple = open[2] == '{';
      start = open + (triple ? 3 : 2);
      while (*start == ' ')
        start++;
      end = start;
      while (is_name_char (*end))
        end++;
      if (end == start)
        {
          g_set_error (error, SLUICE_ERROR, SLUICE_ERROR_INVALID_CONFIG,
                       "%s: '{{' at offset %ld must be followed by a variable name "
                       "(full Mustache sections are not supported yet)",
                       where, (long) (open - source));
          template_free (template);
          return NULL;
        }
      segment = (Segment) { g_strndup (start, end - start), TRUE };
      g_array_append_val (template->segments, segment);

      while (*end == ' ')
        end++;
      if (strncmp (end, triple ? "}}}" : "}}", triple ? 3 : 2) != 0)
        {
          g_set_error (error, SLUICE_ERROR, SLUICE_ERROR_INVALID_CONFIG,
                       "%s: unclosed '{{%s' (expected '%s')", where,
                       g_array_index (template->segments, Segment, template->segments->len - 1).text,
                       triple ? "}}}" : "}}");
          template_free (template);
          return NULL;
        }
      p = end + (triple ? 3 : 2);
    }

  return template;
}

static gboolean
template_render (Template       *template,
                 JsonObject     *variables,
                 gboolean        strict,
                 GString        *out,
                 GError        **error)
{
  g_autoptr(JsonNode) root = json_node_init_object (json_node_alloc (), variables);

  for (guint i = 0; i < template->segments->len; i++)
    {
      Segment *segment = &g_array_index (template->segments, Segment, i);
      JsonNode *value;

      if (!segment->is_var)
        {
          g_string_append (out, segment->text);
          continue;
        }

      value = sluice_json_lookup_path (root, segment->text);
      if (value == NULL || JSON_NODE_HOLDS_NULL (value))
        {
          if (strict)
            {
              g_set_error (error, SLUICE_ERROR, SLUICE_ERROR_INVALID_INPUT,
                           "the %s template needs '%s', which the input does not have",
                           template->role, segment->text);
              return FALSE;
            }
          continue;
        }

      if (json_node_get_value_type (value) == G_TYPE_STRING)
        g_string_append (out, json_node_get_string (value));
      else
        {
          g_autofree char *json = sluice_json_to_string (value);
          g_string_append (out, json);
        }
    }
  return TRUE;
}

static gboolean
add_template (SluiceAssembleStage  *self,
              const char           *role,
              const char           *source,
              const char           *where,
              GError              **error)
{
  Template *template = template_parse (role, source, where, error);

  if (template == NULL)
    return FALSE;
  g_ptr_array_add (self->templates, template);
  return TRUE;
}

static gboolean
sluice_assemble_stage_configure (SluiceStage     *stage,
                                 SluicePipeline  *pipeline,
                                 JsonObject      *config,
                                 GError         **error)
{
  SluiceAssembleStage *self = SLUICE_ASSEMBLE_STAGE (stage);
  const char *text;
  JsonNode *node;

  self->strict = !json_object_has_member (config, "strict") ||
                 json_object_get_boolean_member (config, "strict");

  if ((text = sluice_json_get_string (config, "system")) != NULL &&
      !add_template (self, "system", text, "system", error))
    return FALSE;

  if ((node = json_object_get_member (config, "messages")) != NULL && JSON_NODE_HOLDS_ARRAY (node))
    {
      JsonArray *messages = json_node_get_array (node);

      for (guint i = 0; i < json_array_get_length (messages); i++)
        {
          JsonObject *message = json_array_get_object_element (messages, i);
          g_autofree char *where = g_strdup_printf ("messages[%u]", i);

          if (!add_template (self, sluice_json_get_string (message, "role"),
                             sluice_json_get_string (message, "content"), where, error))
            return FALSE;
        }
    }

  if ((text = sluice_json_get_string (config, "user")) != NULL &&
      !add_template (self, "user", text, "user", error))
    return FALSE;

  if (self->templates->len == 0)
    {
      g_set_error_literal (error, SLUICE_ERROR, SLUICE_ERROR_INVALID_CONFIG,
                           "give at least one of system, user or messages");
      return FALSE;
    }
  return TRUE;
}

static SluiceVerdict
sluice_assemble_stage_process (SluiceStage    *stage,
                               SluiceContext  *context,
                               GError        **error)
{
  SluiceAssembleStage *self = SLUICE_ASSEMBLE_STAGE (stage);
  JsonObject *variables = sluice_context_get_variables (context);
  g_autoptr(JsonArray) messages = json_array_sized_new (self->templates->len);
  g_autoptr(GString) text = g_string_sized_new (1024);

  for (guint i = 0; i < self->templates->len; i++)
    {
      Template *template = g_ptr_array_index (self->templates, i);
      JsonObject *message;

      g_string_truncate (text, 0);
      if (!template_render (template, variables, self->strict, text, error))
        return SLUICE_VERDICT_FAIL;

      message = json_object_new ();
      json_object_set_string_member (message, "role", template->role);
      json_object_set_string_member (message, "content", text->str);
      json_array_add_object_element (messages, message);
    }

  sluice_context_set_messages (context, messages);
  return SLUICE_VERDICT_CONTINUE;
}

static void
sluice_assemble_stage_finalize (GObject *object)
{
  SluiceAssembleStage *self = SLUICE_ASSEMBLE_STAGE (object);

  g_clear_pointer (&self->templates, g_ptr_array_unref);

  G_OBJECT_CLASS (sluice_assemble_stage_parent_class)->finalize (object);
}

static void
sluice_assemble_stage_class_init (SluiceAssembleStageClass *klass)
{
  G_OBJECT_CLASS (klass)->finalize = sluice_assemble_stage_finalize;
}

static void
sluice_assemble_stage_init (SluiceAssembleStage *self)
{
  self->templates = g_ptr_array_new_with_free_func ((GDestroyNotify) template_free);
}

static void
sluice_assemble_stage_iface_init (SluiceStageInterface *iface)
{
  iface->configure = sluice_assemble_stage_configure;
  iface->process = sluice_assemble_stage_process;
}
