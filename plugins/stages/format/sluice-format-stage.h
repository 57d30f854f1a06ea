/* sluice-format-stage.h
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#pragma once

#include <sluice.h>

G_BEGIN_DECLS

#define SLUICE_TYPE_FORMAT_STAGE (sluice_format_stage_get_type ())
G_DECLARE_FINAL_TYPE (SluiceFormatStage, sluice_format_stage, SLUICE, FORMAT_STAGE, GObject)

G_END_DECLS
