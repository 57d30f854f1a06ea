/* sluice-anthropic-provider.h
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#pragma once

#include <sluice.h>

G_BEGIN_DECLS

#define SLUICE_TYPE_ANTHROPIC_PROVIDER (sluice_anthropic_provider_get_type ())
G_DECLARE_FINAL_TYPE (SluiceAnthropicProvider, sluice_anthropic_provider, SLUICE, ANTHROPIC_PROVIDER, SluiceHttpProvider)

G_END_DECLS
