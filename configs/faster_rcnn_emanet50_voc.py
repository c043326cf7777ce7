# The headline config, kept at its first path: Faster R-CNN + FPN with an EMANet-50 backbone on VOC0712,
# which lives in configs/emanet/ with the other EMANet configs (its README: the paper, its figures, how
# to train and test). Runs write to work_dirs/faster_rcnn_emanet50_voc/ as before.
_base_ = './emanet/faster_rcnn_emanet50_voc.py'
