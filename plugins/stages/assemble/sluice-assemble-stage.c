/* sluice-assemble-stage.c — builds the chat messages from templates.
 *
 * system, each of messages and user are Mustache templates (libsluice's
 * renderer, engine/sluice-mustache.c), compiled once at configure with the
 * stage's partials and rendered for each request against its input.
 * history names the input's array of {role, content} messages (the
 * conversation so far), sent between the few-shot messages and user as
 * they are: a conversation's text is never rendered as a template. A message whose content renders empty is
 * left out (an optional few-shot turn, an empty system prompt).
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "sluice-assemble-stage.h"
#include "sluice-mustache-private.h"

#include <string.h>

typedef struct
{
  char           *role;      /* NULL for history */
  char           *where;     /* "system", "messages[2]", "user" */
  SluiceMustache *template;
  char           *history;   /* dotted name in the input */
  gint64          last;      /* history: keep only the last N; 0 = all */
} Item;

struct _SluiceAssembleStage
{
  GObject    parent_instance;

  GPtrArray *items;   /* Item*, in sending order */
};

static void sluice_assemble_stage_iface_init (SluiceStageInterface *iface);

G_DEFINE_FINAL_TYPE_WITH_CODE (SluiceAssembleStage, sluice_assemble_stage, G_TYPE_OBJECT,
                               G_IMPLEMENT_INTERFACE (SLUICE_TYPE_STAGE, sluice_assemble_stage_iface_init))

static void
item_free (Item *item)
{
  g_free (item->role);
  g_free (item->where);
  g_clear_pointer (&item->template, sluice_mustache_unref);
  g_free (item->history);
  g_free (item);
}

static gboolean
add_template (SluiceAssembleStage    *self,
              SluiceMustacheLibrary  *lib,
              const char             *role,
              const char             *source,
              const char             *where,
              GError                **error)
{
  g_autoptr(GPtrArray) problems = g_ptr_array_new_with_free_func ((GDestroyNotify) sluice_mustache_problem_free);
  SluiceMustache *template = sluice_mustache_compile (lib, source, problems);
  Item *item;

  if (template == NULL)
    {
      g_autofree char *message = sluice_mustache_problems_to_message (problems, where);

      g_set_error (error, SLUICE_ERROR, SLUICE_ERROR_INVALID_CONFIG, "%s", message);
      return FALSE;
    }
  item = g_new0 (Item, 1);
  item->role = g_strdup (role);
  item->where = g_strdup (where);
  item->template = template;
  g_ptr_array_add (self->items, item);
  return TRUE;
}

static gboolean
sluice_assemble_stage_configure (SluiceStage     *stage,
                                 SluicePipeline  *pipeline,
                                 JsonObject      *config,
                                 GError         **error)
{
  SluiceAssembleStage *self = SLUICE_ASSEMBLE_STAGE (stage);
  g_autoptr(SluiceMustacheLibrary) lib = NULL;
  SluiceMustacheFlags flags = SLUICE_MUSTACHE_FLAGS_NONE;
  const char *text;
  JsonNode *node;

  if (!json_object_has_member (config, "strict") || json_object_get_boolean_member (config, "strict"))
    flags |= SLUICE_MUSTACHE_STRICT;
  if (g_strcmp0 (sluice_json_get_string (config, "escape"), "html") == 0)
    flags |= SLUICE_MUSTACHE_ESCAPE_HTML;
  lib = sluice_mustache_library_new (flags);
  if (json_object_has_member (config, "max_bytes"))
    sluice_mustache_library_set_max_output (lib, (gsize) MAX (sluice_json_get_int (config, "max_bytes", 0), 1));
  if (!sluice_mustache_library_load_partials (lib, pipeline, json_object_get_member (config, "partials"), error))
    return FALSE;

  if ((text = sluice_json_get_string (config, "system")) != NULL &&
      !add_template (self, lib, "system", text, "system", error))
    return FALSE;

  if ((node = json_object_get_member (config, "messages")) != NULL && JSON_NODE_HOLDS_ARRAY (node))
    {
      JsonArray *messages = json_node_get_array (node);

      for (guint i = 0; i < json_array_get_length (messages); i++)
        {
          JsonObject *message = json_array_get_object_element (messages, i);
          g_autofree char *where = g_strdup_printf ("messages[%u]", i);

          if (!add_template (self, lib, sluice_json_get_string (message, "role"),
                             sluice_json_get_string (message, "content"), where, error))
            return FALSE;
        }
    }

  if ((node = json_object_get_member (config, "history")) != NULL)
    {
      Item *item = g_new0 (Item, 1);

      item->where = g_strdup ("history");
      if (JSON_NODE_HOLDS_OBJECT (node))
        {
          item->history = g_strdup (sluice_json_get_string (json_node_get_object (node), "from"));
          item->last = sluice_json_get_int (json_node_get_object (node), "last", 0);
        }
      else
        item->history = g_strdup (json_node_get_string (node));
      g_ptr_array_add (self->items, item);
      /* a misspelt name would send no history at all, every time */
      {
        g_autoptr(GError) missing = NULL;

        if (!sluice_pipeline_check_input_path (pipeline, item->history, &missing))
          {
            g_set_error (error, SLUICE_ERROR, SLUICE_ERROR_INVALID_CONFIG, "history: %s", missing->message);
            return FALSE;
          }
      }
    }

  if ((text = sluice_json_get_string (config, "user")) != NULL &&
      !add_template (self, lib, "user", text, "user", error))
    return FALSE;

  if (self->items->len == 0)
    {
      g_set_error_literal (error, SLUICE_ERROR, SLUICE_ERROR_INVALID_CONFIG,
                           "give at least one of system, messages, history or user");
      return FALSE;
    }
  return TRUE;
}

static JsonObject *
new_message (const char *role,
             const char *content)
{
  JsonObject *message = json_object_new ();

  json_object_set_string_member (message, "role", role);
  json_object_set_string_member (message, "content", content);
  return message;
}

/* The input's conversation so far: each message checked, then copied
 * with only its role and content. */
static gboolean
add_history (Item       *item,
             JsonNode   *root,
             JsonArray  *messages,
             GError    **error)
{
  JsonNode *node = sluice_json_lookup_path (root, item->history);
  JsonArray *history;
  guint n, first;

  if (node == NULL || JSON_NODE_HOLDS_NULL (node))
    return TRUE;   /* the first turn of a conversation has none */
  if (!JSON_NODE_HOLDS_ARRAY (node))
    {
      g_set_error (error, SLUICE_ERROR, SLUICE_ERROR_INVALID_INPUT,
                   "history: '%s' must be an array of {role, content} messages", item->history);
      return FALSE;
    }
  history = json_node_get_array (node);
  n = json_array_get_length (history);
  first = item->last > 0 && (gint64) n > item->last ? n - (guint) item->last : 0;

  for (guint i = first; i < n; i++)
    {
      JsonNode *element = json_array_get_element (history, i);
      JsonObject *message = JSON_NODE_HOLDS_OBJECT (element) ? json_node_get_object (element) : NULL;
      const char *role = message != NULL ? sluice_json_get_string (message, "role") : NULL;
      const char *content = message != NULL ? sluice_json_get_string (message, "content") : NULL;
      const char *bad;

      if (message == NULL)
        {
          g_set_error (error, SLUICE_ERROR, SLUICE_ERROR_INVALID_INPUT,
                       "%s[%u]: a message must be an object with role and content", item->history, i);
          return FALSE;
        }
      if (role == NULL || !(g_str_equal (role, "user") || g_str_equal (role, "assistant") ||
                            g_str_equal (role, "system")))
        {
          g_set_error (error, SLUICE_ERROR, SLUICE_ERROR_INVALID_INPUT,
                       "%s[%u].role: expected user, assistant or system", item->history, i);
          return FALSE;
        }
      if (content == NULL)
        {
          g_set_error (error, SLUICE_ERROR, SLUICE_ERROR_INVALID_INPUT,
                       "%s[%u].content: expected a string", item->history, i);
          return FALSE;
        }
      if (!g_utf8_validate (content, -1, &bad))
        {
          g_set_error (error, SLUICE_ERROR, SLUICE_ERROR_INVALID_INPUT,
                       "%s[%u].content is not valid UTF-8 (byte %ld)", item->history, i, (long) (bad - content));
          return FALSE;
        }
      json_array_add_object_element (messages, new_message (role, content));
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
  g_autoptr(JsonNode) root = json_node_init_object (json_node_alloc (), variables);
  g_autoptr(JsonArray) messages = json_array_sized_new (self->items->len);
  g_autoptr(GString) text = g_string_sized_new (1024);

  for (guint i = 0; i < self->items->len; i++)
    {
      Item *item = g_ptr_array_index (self->items, i);
      g_autoptr(GError) local = NULL;

      if (item->history != NULL)
        {
          if (!add_history (item, root, messages, error))
            return SLUICE_VERDICT_FAIL;
          continue;
        }

      g_string_truncate (text, 0);
      if (!sluice_mustache_render (item->template, root, text, &local))
        {
          g_set_error (error, local->domain, local->code, "the %s template %s", item->where, local->message);
          return SLUICE_VERDICT_FAIL;
        }
      if (text->len > 0)
        json_array_add_object_element (messages, new_message (item->role, text->str));
    }

  if (json_array_get_length (messages) == 0)
    {
      g_set_error_literal (error, SLUICE_ERROR, SLUICE_ERROR_INVALID_INPUT,
                           "every template rendered empty and there is no history: no message to send");
      return SLUICE_VERDICT_FAIL;
    }
  sluice_context_set_messages (context, messages);
  return SLUICE_VERDICT_CONTINUE;
}

static void
sluice_assemble_stage_finalize (GObject *object)
{
  SluiceAssembleStage *self = SLUICE_ASSEMBLE_STAGE (object);

  g_clear_pointer (&self->items, g_ptr_array_unref);

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
  self->items = g_ptr_array_new_with_free_func ((GDestroyNotify) item_free);
}

static void
sluice_assemble_stage_iface_init (SluiceStageInterface *iface)
{
  iface->configure = sluice_assemble_stage_configure;
  iface->process = sluice_assemble_stage_process;
}
