"""Simulation datasets from scene programs: ground truth, simulator scenes, variants.

Per sample (the reconstruction itself or one of its variants), one Blender job renders
the RGB image and its passes and exports GLB and USD (`blender_actors.dataset_writers`);
the parent checks those untrusted files (`blender_actors.outputs`), and the
writers here, one format per module, turn the checked data into the dataset's files:
`depth` (KITTI PNG, float32 .npy, preview), `segmentation` (semantic, instance,
preview), `normals`, `camera` (camera.json), `objects` (objects.json), `usd_labels`
(Isaac Sim semantics on scene.usdc). `variants` makes seeded variant programs,
`generate` runs them for one image, `index` and `card` describe a run's dataset, and
`reader` loads it back as numpy arrays from any fsspec URI.

Imports: numpy, Pillow, pyarrow, fsspec, pydantic, scene_program and blender_actors'
plain modules; never bpy. The reader needs only numpy, Pillow, pyarrow and fsspec.
The layout and conventions are specified in docs/contracts.md, "Datasets".
"""
