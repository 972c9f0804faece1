package inferencetest

import (
	"bytes"
	"fmt"
	"image"
	"image/color"
	"image/jpeg"
	"image/png"
	"net/http"
)

// palette is the set of colour names the double can see, in tie-break order,
// with the RGB value each name stands for (CSS values, which are also
// FFmpeg's: "green" is #008000, "gray" #808080, "orange" #FFA500, "purple"
// #800080).
var palette = [...]struct {
	Name    string
	R, G, B uint8
}{
	{"red", 255, 0, 0},
	{"green", 0, 128, 0},
	{"blue", 0, 0, 255},
	{"yellow", 255, 255, 0},
	{"cyan", 0, 255, 255},
	{"magenta", 255, 0, 255},
	{"white", 255, 255, 255},
	{"black", 0, 0, 0},
	{"gray", 128, 128, 128},
	{"orange", 255, 165, 0},
	{"purple", 128, 0, 128},
}

// maxSamplesPerAxis bounds the pixels looked at: a 64×64 grid at most.
const maxSamplesPerAxis = 64

// DominantColour names the palette colour (see Colours) that most sampled pixels of img
// are nearest to (Euclidean distance in RGB). Ties go to the earlier
// palette entry.
func DominantColour(img image.Image) string {
	b := img.Bounds()
	if b.Empty() {
		return "black"
	}
	stepX := max(1, (b.Dx()+maxSamplesPerAxis-1)/maxSamplesPerAxis)
	stepY := max(1, (b.Dy()+maxSamplesPerAxis-1)/maxSamplesPerAxis)
	votes := make([]int, len(palette))
	for y := b.Min.Y + stepY/2; y < b.Max.Y; y += stepY {
		for x := b.Min.X + stepX/2; x < b.Max.X; x += stepX {
			r, g, bl, _ := img.At(x, y).RGBA()
			votes[nearest(int(r>>8), int(g>>8), int(bl>>8))]++
		}
	}
	best := 0
	for i, v := range votes {
		if v > votes[best] {
			best = i
		}
	}
	return palette[best].Name
}

func nearest(r, g, b int) int {
	best, bestD := 0, 1<<31-1
	for i, p := range palette {
		dr, dg, db := r-int(p.R), g-int(p.G), b-int(p.B)
		if d := dr*dr + dg*dg + db*db; d < bestD {
			best, bestD = i, d
		}
	}
	return best
}

// decodeImage decodes JPEG or PNG bytes, whatever the declared MIME type.
func decodeImage(data []byte) (image.Image, error) {
	switch ct := http.DetectContentType(data); ct {
	case "image/jpeg":
		return jpeg.Decode(bytes.NewReader(data))
	case "image/png":
		return png.Decode(bytes.NewReader(data))
	default:
		return nil, fmt.Errorf("not a JPEG or PNG image (looks like %s)", ct)
	}
}

// Colours lists the colour names the double can see, in tie-break order:
// red, green, blue, yellow, cyan, magenta, white, black, gray, orange,
// purple.
func Colours() []string {
	names := make([]string, len(palette))
	for i, p := range palette {
		names[i] = p.Name
	}
	return names
}

// RGB returns the value a colour name stands for (CSS/FFmpeg values).
func RGB(name string) (color.RGBA, bool) {
	for _, p := range palette {
		if p.Name == name {
			return color.RGBA{p.R, p.G, p.B, 255}, true
		}
	}
	return color.RGBA{}, false
}

// SolidJPEG encodes a w×h frame filled with the named colour, for tests
// that build frames in memory.
func SolidJPEG(name string, w, h int) ([]byte, error) {
	c, ok := RGB(name)
	if !ok {
		return nil, fmt.Errorf("inferencetest: unknown colour %q", name)
	}
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	for i := 0; i < len(img.Pix); i += 4 {
		img.Pix[i], img.Pix[i+1], img.Pix[i+2], img.Pix[i+3] = c.R, c.G, c.B, 255
	}
	var buf bytes.Buffer
	if err := jpeg.Encode(&buf, img, &jpeg.Options{Quality: 90}); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}
