/* sluice-validate-input-stage.c — refuses a request that breaks the
 * pipeline's `input` schema before anything else runs.
 *
 * "Before anything else" is checked when the pipeline loads: only the
 * stages that guard the door (rate-limit, sanitize) may come first, so
 * that no template, provider or cache ever sees input the schema
 * refuses. The error lists every violation, up to five, each at its
 * JSON Pointer, and never quotes a value of the input.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "sluice-validate-input-stage.h"

struct _SluiceValidateInputStage
{
  GObject         parent_instance;

  SluicePipeline *pipeline;   /* not owned: the pipeline owns its stages */
};

static void sluice_validate_input_stage_iface_init (SluiceStageInterface *iface);

G_DEFINE_FINAL_TYPE_WITH_CODE (SluiceValidateInputStage, sluice_validate_input_stage, G_TYPE_OBJECT,
                               G_IMPLEMENT_INTERFACE (SLUICE_TYPE_STAGE, sluice_validate_input_stage_iface_init))

static gboolean
sluice_validate_input_stage_configure (SluiceStage     *stage,
                                       SluicePipeline  *pipeline,
                                       JsonObject      *config,
                                       GError         **error)
{
  SluiceValidateInputStage *self = SLUICE_VALIDATE_INPUT_STAGE (stage);

  static const char * const may_come_first[] = { "rate-limit", "sanitize", "validate-input", NULL };

  if (sluice_pipeline_get_input_schema (pipeline) == NULL)
    {
      g_set_error_literal (error, SLUICE_ERROR, SLUICE_ERROR_INVALID_CONFIG,
                           "the pipeline has no 'input' schema to validate against");
      return FALSE;
    }
  /* Stages are configured in file order and all names are known: the
   * first validate-input is the one that counts. */
  for (guint i = 0; i < sluice_pipeline_get_n_stages (pipeline); i++)
    {
      const char *name = sluice_pipeline_get_stage_name (pipeline, i);

      if (g_str_equal (name, "validate-input"))
        break;
      if (!g_strv_contains (may_come_first, name))
        return sluice_config_invalid (error, "must come before '%s' (stage %u): the input is checked "
                                      "before anything uses it (only rate-limit and sanitize may go first)",
                                      name, i + 1);
    }
  self->pipeline = pipeline;
  return TRUE;
}

static SluiceVerdict
sluice_validate_input_stage_process (SluiceStage    *stage,
                                     SluiceContext  *context,
                                     GError        **error)
{
  SluiceValidateInputStage *self = SLUICE_VALIDATE_INPUT_STAGE (stage);

  JsonNode *input = sluice_context_get_input (context);

  if (!sluice_pipeline_validate_input (self->pipeline, input, error))
    {
      /* the message lists the first few; the details carry them apart */
      g_autoptr(JsonArray) violations = input != NULL ? sluice_pipeline_check_input (self->pipeline, input, 50) : NULL;
      g_autoptr(JsonObject) details = json_object_new ();

      if (violations != NULL)
        {
          json_object_set_array_member (details, "violations", g_steal_pointer (&violations));
          sluice_context_set_error_details (context, details);
        }
      return SLUICE_VERDICT_FAIL;
    }
  return SLUICE_VERDICT_CONTINUE;
}

static void
sluice_validate_input_stage_class_init (SluiceValidateInputStageClass *klass)
{
}

static void
sluice_validate_input_stage_init (SluiceValidateInputStage *self)
{
}

static void
sluice_validate_input_stage_iface_init (SluiceStageInterface *iface)
{
  iface->configure = sluice_validate_input_stage_configure;
  iface->process = sluice_validate_input_stage_process;
}
