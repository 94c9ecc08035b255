"""Putting a dock's output layers into a viewer: replaced, never piled up.

No Qt: works on a viewer's ``LayerList``. The layer-data tuples come from
the pure builders of :mod:`napari_gmm._layers`.
"""

from __future__ import annotations

import napari

from ._layers import METADATA_KEY, find_output_layer


def sync_outputs(layers, source: str, outputs, roles, active=None) -> None:
    """Replace the outputs of ``source`` in ``layers`` by ``outputs``.

    Parameters
    ----------
    layers : napari.components.LayerList
        The viewer's layers.
    source : str
        The input's name stem, which the outputs' metadata carry.
    outputs : list of (data, meta, layer_type)
        Layer-data tuples whose metadata name their role.
    roles : iterable of str
        Every role a dock draws for one input; an output of a role not in
        ``outputs`` is removed (e.g. ellipses after a switch to 4-D).
    active : napari.layers.Layer, optional
        Made the selected, active layer again: adding a layer makes it the
        active one, and the user's next action (editing points, changing
        contrast) is meant for the input.
    """
    drawn = set()
    for data, meta, layer_type in outputs:
        role = meta["metadata"][METADATA_KEY]["role"]
        drawn.add(role)
        layer = napari.layers.Layer.create(data, meta, layer_type)
        index = find_output_layer(layers, role, source)
        if index is None:
            layers.append(layer)
        else:
            layer.visible = layers[index].visible
            layers.pop(index)
            layers.insert(index, layer)
    for role in set(roles) - drawn:
        index = find_output_layer(layers, role, source)
        if index is not None:
            layers.pop(index)
    if active is not None and active in layers:
        layers.selection.active = active
