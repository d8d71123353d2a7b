// Applies a model's `settle` to one part, keeping each searched operation beside the
// operation as recorded, so results and explanations speak of what clients saw.

import type { Operation } from './history.js';
import type { Model } from './model.js';

export interface Prepared {
  /** What the search sees. */
  readonly searched: readonly Operation[];
  /** The same operations as recorded, index for index. */
  readonly recorded: readonly Operation[];
}

export function settle<S>(model: Model<S>, searched: readonly Operation[], recorded: readonly Operation[] = searched): Prepared {
  if (model.settle === undefined) return { searched, recorded };
  const settled = model.settle(searched);
  if (settled.length !== searched.length) {
    throw new TypeError(`model.settle returned ${settled.length} entries for ${searched.length} operations; it must return one per operation (null to leave one out)`);
  }
  const keptSearched: Operation[] = [];
  const keptRecorded: Operation[] = [];
  settled.forEach((operation, index) => {
    if (operation === null) return;
    keptSearched.push(operation);
    keptRecorded.push(recorded[index]!);
  });
  return { searched: keptSearched, recorded: keptRecorded };
}
