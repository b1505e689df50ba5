"""See what a network learned: the report's figures, Grad-CAM, a Markdown report, a model comparison.

Every ``plot_*`` function writes one PNG to the path it is given and returns that path. They take
plain arrays (a History or its JSON, a confusion matrix, images and probabilities), so they work
with any model. matplotlib is imported only when a figure is drawn, through its object API: the
global backend is never changed and nothing needs a display.

    plot_history(history, "curves.png")                      # loss / accuracy per epoch
    plot_confusion_matrix(cm, classes, "confusion.png")      # counts and recall
    plot_feature_maps(model, x, "features.png")              # each conv layer's output, one image
    plot_misclassified(images, labels, probs, classes, "mistakes.png")
    plot_gradcam(model, xs, "gradcam.png", images, labels, classes)   # where the model looked
    write_report(checkpoint, out_dir)                        # all of them + report.md
    compare_runs(run_dirs, out_dir)                          # table + bar chart vs the report
"""
from minicnn.viz.confusion import plot_confusion_matrix, recall_matrix
from minicnn.viz.curves import load_history, plot_history
from minicnn.viz.feature_maps import feature_maps, plot_feature_maps
from minicnn.viz.gallery import plot_misclassified, worst_mistakes
from minicnn.viz.gradcam import CAMPass, grad_cam, plot_gradcam, upsample_bilinear

__all__ = ["plot_history", "load_history", "plot_confusion_matrix", "recall_matrix",
           "feature_maps", "plot_feature_maps", "plot_misclassified", "worst_mistakes",
           "CAMPass", "grad_cam", "plot_gradcam", "upsample_bilinear"]
