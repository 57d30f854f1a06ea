/* sluice-validate-stage.h
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#pragma once

#include <sluice.h>

G_BEGIN_DECLS

#define SLUICE_TYPE_VALIDATE_STAGE (sluice_validate_stage_get_type ())
G_DECLARE_FINAL_TYPE (SluiceValidateStage, sluice_validate_stage, SLUICE, VALIDATE_STAGE, GObject)

G_END_DECLS
