"""OpenCV, imported once with an error that explains the Jetson choice (see INSTALL_HINTS["opencv"])."""

from runtime.backends.base import require

cv2 = require("cv2", "opencv", "the Tubelet runtime (OpenCV)")
