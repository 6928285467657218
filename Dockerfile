# seig's image: Python 3.11, bpy (Blender 5.0 as a Python module), Ray 2.60 and seig,
# installed as the README installs it (`pip install -e .`) into /app, a full copy of the
# repository (prompts/ and configs/ are read from the repository at run time).
# One image for the Ray head, both worker groups, the RayJob submitter and the nightly
# CronJob. GPU: the NVIDIA container runtime injects the driver; the pods set
# NVIDIA_DRIVER_CAPABILITIES=compute,utility,graphics (OptiX needs "graphics").
#
#   docker build -t registry.example.com/seig:0.1.0 .
#   docker run --rm registry.example.com/seig:0.1.0 seig render examples/scenes/street.py --out /tmp/street.png
FROM python:3.11-slim-bookworm

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

# The shared libraries the bpy wheel links against that a slim image lacks (checked with
# ldd on bpy/__init__.so: libGL/GLX/glvnd, X11 and its extensions, libSM/ICE, libxkbcommon,
# libbsd); libEGL for headless EEVEE/Workbench; wget for KubeRay's default health probes.
# libseccomp2: the Blender job child builds its seccomp filter with it (through pyseccomp).
RUN apt-get update \
    && apt-get install -y --no-install-recommends \
        libgl1 libegl1 libglx0 libglvnd0 \
        libx11-6 libxext6 libxi6 libxxf86vm1 libxfixes3 libxrender1 libxkbcommon0 \
        libsm6 libice6 libbsd0 \
        libseccomp2 \
        wget ca-certificates procps \
    && rm -rf /var/lib/apt/lists/*

# Ray's images run as uid 1000 ("ray"); so does this one. The Blender sandbox's
# RLIMIT_NPROC is not enforced for root, one more reason not to run as root.
RUN useradd --create-home --uid 1000 --shell /bin/bash ray \
    && mkdir -p /app /var/cache/seig-kernels \
    && chown ray:ray /app /var/cache/seig-kernels
WORKDIR /app

# Dependencies first, in their own layer (the bpy wheel is about 375 MB): a code change
# does not download them again.
COPY --chown=ray:ray pyproject.toml README.md ./
RUN python -c "import tomllib; print('\n'.join(tomllib.load(open('pyproject.toml', 'rb'))['project']['dependencies']))" \
        > /tmp/requirements.txt \
    && pip install -r /tmp/requirements.txt \
    && rm /tmp/requirements.txt

COPY --chown=ray:ray . .
RUN pip install --no-deps -e . \
    && python -c "import bpy, ray, pipeline, stages, blender_actors, scene_program; print('bpy', bpy.app.version_string, 'ray', ray.__version__)"

USER 1000
ENV HOME=/home/ray
EXPOSE 8265 6379 10001 8080 9464
CMD ["seig", "--help"]
