"""A vectorised z-buffer rasterizer in numpy (no OpenGL), shading, and meshes drawn over pictures:
the synthetic world renders with it, the visualiser and the demo draw predictions with it.

Pixel convention (see `tfhybrid.camera`): continuous coordinates, pixel (i, j) has its centre at
(i + 0.5, j + 0.5); a pixel is covered by a triangle when its centre is inside it (edges included).
"""
import numpy as np

_EDGE_EPS = -1e-9


def rasterize(points, depth, faces, height, width, perspective_correct=True):
    """Per-pixel nearest face and barycentric coordinates.

    All (face, pixel) candidates inside each face's bounding box are tested at once; the z-buffer
    keeps the nearest covering face of every pixel.

    Args:
      points: (V, 2) projected vertices in pixels.
      depth: (V,) positive camera depth of each vertex (smaller is nearer).
      faces: (F, 3) vertex ids.
      height, width: image size.
      perspective_correct: interpolate with 1/depth weighting, so barycentrics are those of the 3D
        triangle (for a perspective camera); False gives screen-space barycentrics.
    Returns:
      face_id: (H, W) int32, -1 where no face covers the pixel.
      barycentric: (H, W, 3) float32 weights of the face's three vertices (0 on background).
      zbuffer: (H, W) float32 depth, +inf on background.
    """
    points = np.asarray(points, dtype=np.float64)
    depth = np.asarray(depth, dtype=np.float64)
    faces = np.asarray(faces)
    tri = points[faces]
    tri_z = depth[faces]
    lo = np.ceil(tri.min(axis=1) - 0.5).astype(np.int64)
    hi = np.floor(tri.max(axis=1) - 0.5).astype(np.int64)
    lo = np.maximum(lo, 0)
    hi = np.minimum(hi, [width - 1, height - 1])
    size = hi - lo + 1
    area2 = ((tri[:, 1, 0] - tri[:, 0, 0]) * (tri[:, 2, 1] - tri[:, 0, 1])
             - (tri[:, 1, 1] - tri[:, 0, 1]) * (tri[:, 2, 0] - tri[:, 0, 0]))
    keep = np.nonzero((size[:, 0] > 0) & (size[:, 1] > 0) & (np.abs(area2) > 1e-12) & np.all(tri_z > 0, axis=1))[0]

    face_id = np.full((height, width), -1, dtype=np.int32)
    bary_out = np.zeros((height, width, 3), dtype=np.float32)
    zbuffer = np.full((height, width), np.inf, dtype=np.float32)
    if keep.size == 0:
        return face_id, bary_out, zbuffer
    counts = size[keep, 0] * size[keep, 1]
    cand_face = np.repeat(keep, counts)
    local = np.arange(counts.sum()) - np.repeat(np.cumsum(counts) - counts, counts)
    box_w = size[cand_face, 0]
    px = lo[cand_face, 0] + local % box_w
    py = lo[cand_face, 1] + local // box_w
    cx, cy = px + 0.5, py + 0.5
    t = tri[cand_face]
    inv_area = 1.0 / area2[cand_face]
    l1 = ((cx - t[:, 0, 0]) * (t[:, 2, 1] - t[:, 0, 1]) - (cy - t[:, 0, 1]) * (t[:, 2, 0] - t[:, 0, 0])) * inv_area
    l2 = ((t[:, 1, 0] - t[:, 0, 0]) * (cy - t[:, 0, 1]) - (t[:, 1, 1] - t[:, 0, 1]) * (cx - t[:, 0, 0])) * inv_area
    l0 = 1.0 - l1 - l2
    inside = (l0 >= _EDGE_EPS) & (l1 >= _EDGE_EPS) & (l2 >= _EDGE_EPS)
    cand_face, px, py = cand_face[inside], px[inside], py[inside]
    bary = np.stack([l0[inside], l1[inside], l2[inside]], axis=1)
    z = tri_z[cand_face]
    if perspective_correct:
        inv = bary / z
        inv_sum = inv.sum(axis=1)
        bary = inv / inv_sum[:, None]
        pix_z = 1.0 / inv_sum
    else:
        pix_z = (bary * z).sum(axis=1)
    pixel = py * width + px
    order = np.lexsort((cand_face, pix_z, pixel))
    first = order[np.r_[True, pixel[order][1:] != pixel[order][:-1]]]
    face_id.reshape(-1)[pixel[first]] = cand_face[first]
    bary_out.reshape(-1, 3)[pixel[first]] = bary[first]
    zbuffer.reshape(-1)[pixel[first]] = pix_z[first]
    return face_id, bary_out, zbuffer


def face_normals(vertices, faces):
    """(F, 3) unit normals of triangles (counter-clockwise = outward)."""
    v = np.asarray(vertices, dtype=np.float64)[faces]
    n = np.cross(v[:, 1] - v[:, 0], v[:, 2] - v[:, 0])
    return n / np.maximum(np.linalg.norm(n, axis=1, keepdims=True), 1e-12)


def shade(face_id, face_colors, normals, light_dir, ambient=0.35):
    """Lambert-shaded colours of the visible faces.

    Args:
      face_id: (H, W) from `rasterize`; face_colors: (F, 3) float RGB in [0, 1]; normals: (F, 3)
        in camera coordinates (+z away from the camera); light_dir: (3,) direction towards the light.
    Returns:
      (H, W, 3) float image in [0, 1], and the (H, W) foreground mask.
    """
    mask = face_id >= 0
    ids = face_id[mask]
    light = np.asarray(light_dir, dtype=np.float64)
    light = light / np.linalg.norm(light)
    lambert = np.abs(normals[ids] @ light)
    image = np.zeros(face_id.shape + (3,))
    image[mask] = face_colors[ids] * (ambient + (1.0 - ambient) * lambert)[:, None]
    return np.clip(image, 0.0, 1.0), mask


def draw_mesh(background, pixels, depth, vertices, faces, color=(0.65, 0.75, 0.95), alpha=0.8,
              light_dir=(0.0, 0.3, 1.0)):
    """A shaded mesh over a picture.

    Args:
      background: (H, W, 3) uint8 RGB; pixels: (V, 2) projected vertices in its pixels; depth: (V,)
        positive depth (smaller is nearer); vertices: (V, 3) for the normals; faces: (F, 3);
      color: RGB in [0, 1]; alpha: opacity of the mesh.
    Returns:
      (H, W, 3) uint8 RGB.
    """
    height, width = background.shape[:2]
    face_id, _, _ = rasterize(pixels, depth, faces, height, width, perspective_correct=False)
    colors = np.broadcast_to(np.asarray(color, np.float64), (faces.shape[0], 3))
    shaded, mask = shade(face_id, colors, face_normals(vertices, faces), light_dir)
    out = background.astype(np.float64) / 255.0
    out[mask] = (1 - alpha) * out[mask] + alpha * shaded[mask]
    return (np.clip(out, 0, 1) * 255).round().astype(np.uint8)
