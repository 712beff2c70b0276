"""The photos of an ImageFolder dataset and Auge's held-out split of them, for the analysis scripts:
`auge train --val-split 1/N` (and `auge eval --holdout N`) hold out every N-th photo of each class,
sorted by name."""
import os
import sys


def photos_and_holdout(dataset, every):
    """[(label, file name)] of every photo, by label then name, and the indices of the held-out ones."""
    if not os.path.isdir(dataset):
        sys.exit(f"{dataset}: no such folder (the datasets are not shipped)")
    items = [(label, name) for label in sorted(os.listdir(dataset)) if os.path.isdir(os.path.join(dataset, label))
             for name in sorted(os.listdir(os.path.join(dataset, label)))]
    held, seen = [], {}
    for k, (label, _) in enumerate(items):
        seen[label] = seen.get(label, 0) + 1
        if seen[label] % every == 0:
            held.append(k)
    return items, held
