"""Import anchor: a Pillow loop doing what `kennel import` does per file (decode, grayscale, resize to 151x250),
on the same files. Also generates the files when asked. Needs Pillow (a throwaway venv; never a project
dependency).

  python pillow_anchor.py generate DIR COUNT   # COUNT ~400x300 JPEGs in DIR/<class>/ (4 classes)
  python pillow_anchor.py run DIR              # prints {"pillow_images_per_s": ...}
"""
import json, os, random, sys, time
from PIL import Image


def generate(root, count):
    rng = random.Random(0)
    for index in range(count):
        folder = os.path.join(root, f"n{index % 4:08d}-class{index % 4}")
        os.makedirs(folder, exist_ok=True)
        width, height = 400 + rng.randrange(-40, 40), 300 + rng.randrange(-30, 30)
        image = Image.new("RGB", (width, height))
        pixels = image.load()
        seed = rng.randrange(256)
        for y in range(0, height, 4):
            for x in range(0, width, 4):
                color = ((x + seed) % 256, (y * 2 + seed) % 256, (x + y) % 256)
                for dy in range(4):
                    for dx in range(4):
                        if x + dx < width and y + dy < height:
                            pixels[x + dx, y + dy] = color
        image.save(os.path.join(folder, f"img{index:05d}.jpg"), quality=90)


def run(root):
    files = sorted(os.path.join(d, f) for d, _, fs in os.walk(root) for f in fs if f.endswith(".jpg"))
    start = time.perf_counter()
    for path in files:
        with Image.open(path) as image:
            image.convert("L").resize((151, 250), Image.BILINEAR).tobytes()
    seconds = time.perf_counter() - start
    print(json.dumps({"pillow_images": len(files), "pillow_seconds": round(seconds, 2),
                      "pillow_images_per_s": round(len(files) / seconds, 1)}))


if __name__ == "__main__":
    if sys.argv[1] == "generate":
        generate(sys.argv[2], int(sys.argv[3]))
    else:
        run(sys.argv[2])
