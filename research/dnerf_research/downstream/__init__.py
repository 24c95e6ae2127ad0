"""Does dnerf's data train anything? Downstream 2D and 3D part segmentation (issue 25).

A small segmentation network (seg2d.py) and a PointNet-style part segmenter (pointnet.py) are
trained, with one schedule (train.py), on training sets that differ only in where their labels
(and, for the ceiling, their images) come from (data.py):

  kit       the 90 annotated kit views alone (30 subjects x 3 views, oracle image masks);
  baseline  generated views labeled by the DatasetGAN-style 2D baseline (baseline.py);
  dnerf     the same generated views labeled by dnerf's semantic branch (DatasetNeRF), N subjects;
  oracle    the procedural oracle's own renders and clouds of the same seeds and poses, exact
            labels (the ceiling of the generator route).

Every row is scored (score.py) on the same held-out oracle test sets: renders of held-out seeds
(>= 1 000 000) at random poses with exact masks, 5 oracle orbit videos, and oracle clouds of the
held-out seeds. report.py writes the JSON, the Markdown page and the plots.
"""
