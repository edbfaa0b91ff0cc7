"""colcon (ament_python) build of the ROS 2 package `ros_bridge`.

The folder is at once the ROS package (package.xml, launch/, config/) and the Python package
`ros_bridge` (flat layout, see README.md), so it maps the package name onto this folder. The
repository's top-level setup.py also packages `ros_bridge` for pip; this file is for colcon.
Guarded so that importing it as `ros_bridge.setup` (a package walk) does nothing.
"""

if __name__ == "__main__":
    from glob import glob

    from setuptools import setup

    PACKAGE = "ros_bridge"
    setup(
        name=PACKAGE,
        version="0.1.0",
        packages=[PACKAGE, f"{PACKAGE}.transports"],
        package_dir={PACKAGE: "."},
        data_files=[
            ("share/ament_index/resource_index/packages", [f"resource/{PACKAGE}"]),
            (f"share/{PACKAGE}", ["package.xml", "README.md"]),
            (f"share/{PACKAGE}/launch", glob("launch/*.launch.py")),
            (f"share/{PACKAGE}/config", glob("config/*.yaml")),
        ],
        install_requires=["setuptools"],
        zip_safe=True,
        maintainer="Tubelet maintainers",
        maintainer_email="tubelet@example.com",
        description="Tubelet video action recognition as a ROS 2 node",
        license="Apache-2.0",
        tests_require=["pytest"],
        entry_points={"console_scripts": [
            "tubelet_node = ros_bridge.transports.rclpy_node:main",
            "tubelet_dds = ros_bridge.cli:main",
        ]},
    )
