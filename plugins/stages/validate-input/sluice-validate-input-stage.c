/* sluice-validate-input-stage.c — refuses a request that breaks the
 * pipeline's `input` schema before anything else runs.
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

  if (sluice_pipeline_get_input_schema (pipeline) == NULL)
    {
      g_set_error_literal (error, SLUICE_ERROR, SLUICE_ERROR_INVALID_CONFIG,
                           "the pipeline has no 'input' schema to validate against");
      return FALSE;
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

  if (!sluice_pipeline_validate_input (self->pipeline, sluice_context_get_input (context), error))
    return SLUICE_VERDICT_FAIL;
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
