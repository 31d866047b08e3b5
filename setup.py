"""pip entry point; all metadata lives in setup.cfg.

`pip install .` installs the pure-Python parts of valence_ros (no ROS needed to
import the model, fast inference, training and analysis code). The ROS 2
package (messages, node executable, launch and config) is built by colcon from
CMakeLists.txt; see README.md.
"""
from setuptools import setup

setup()
