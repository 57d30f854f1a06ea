/* sluice-validate-input-stage.h
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#pragma once

#include <sluice.h>

G_BEGIN_DECLS

#define SLUICE_TYPE_VALIDATE_INPUT_STAGE (sluice_validate_input_stage_get_type ())
G_DECLARE_FINAL_TYPE (SluiceValidateInputStage, sluice_validate_input_stage, SLUICE, VALIDATE_INPUT_STAGE, GObject)

G_END_DECLS
